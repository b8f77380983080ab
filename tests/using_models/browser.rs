//! The `serve` page in a real browser: headless Chromium driven over
//! WebDriver (chromedriver) picks demo clips with the page's file input and
//! reads the predicted labels from its results table; they must be the
//! labels the JSON API gives for the same files.
//!
//! Needs Debian's `chromium` and `chromium-driver`; skipped without them
//! unless SOUNDCLASS_REQUIRE_BROWSER=1 (CI sets it). SOUNDCLASS_SERVE_MODEL
//! serves another model (a dev-corpus run for README's screenshot), and
//! SOUNDCLASS_SCREENSHOT=PATH saves the page as PNG.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::common::http::{get, post_json, request};
use crate::common::server::{post_files, tiny_model, walk, Server};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

struct Driver {
    child: Child,
    url: String,
    session: String,
}

impl Driver {
    fn start(chromedriver: &Path, chromium: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while request("GET", &format!("{url}/status"), None, &[]).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,2100"]
            }
        }}});
        let mut driver = Self {
            child,
            url,
            session: String::new(),
        };
        let created = driver.call("POST", "/session", capabilities);
        driver.session = created["sessionId"]
            .as_str()
            .expect("a session")
            .to_string();
        driver
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.url)
        } else {
            format!("{}/session/{}{path}", self.url, self.session)
        };
        let response = match method {
            "GET" => get(&url),
            _ => post_json(&url, &body),
        };
        assert_eq!(
            response.status,
            200,
            "WebDriver {method} {path}: {}",
            response.text()
        );
        response.json()["value"].clone()
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        self.call(
            "POST",
            "/elements",
            json!({"using": "css selector", "value": css}),
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[ELEMENT].as_str().unwrap().to_string())
        .collect()
    }

    fn text(&self, element: &str) -> String {
        self.call("GET", &format!("/element/{element}/text"), Value::Null)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    fn wait_for(&self, what: &str, timeout: Duration, mut done: impl FnMut(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = request(
                "DELETE",
                &format!("{}/session/{}", self.url, self.session),
                None,
                &[],
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_page_classifies_files_picked_in_a_browser() {
    let required = std::env::var_os("SOUNDCLASS_REQUIRE_BROWSER").is_some();
    let (Some(chromedriver), Some(chromium)) = (
        find_program(&["chromedriver"]),
        find_program(&["chromium", "chromium-browser", "google-chrome"]),
    ) else {
        assert!(
            !required,
            "chromium and chromedriver are required (SOUNDCLASS_REQUIRE_BROWSER)"
        );
        eprintln!("skipped: chromium or chromedriver not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let model = match std::env::var_os("SOUNDCLASS_SERVE_MODEL") {
        Some(path) => PathBuf::from(path),
        None => tiny_model(dir.path()),
    };
    let server = Server::start(&model, &dir.path().join("tmp"), &["serve.max_files=4"]);

    // One clip per class from the demo data, picked through the file input
    // (the page sends them in batches of serve.max_files).
    let root = crate::common::repo_root().join("data/demo/clips");
    let mut clips = Vec::new();
    for class in ["Animal", "Music", "Speech", "Vehicle"] {
        let mut found = walk(&root.join(class));
        found.sort();
        clips.extend(found.into_iter().take(2));
    }
    let driver = Driver::start(&chromedriver, &chromium);
    driver.call("POST", "/url", json!({"url": server.url}));
    let status = |d: &Driver| {
        d.find_all("#status")
            .first()
            .map(|s| d.text(s))
            .unwrap_or_default()
    };
    driver.wait_for("the page to load the model", Duration::from_secs(30), |d| {
        status(d) == "ready"
    });
    let input = driver.find_all("#files").pop().expect("a file input");
    let paths: Vec<String> = clips.iter().map(|p| p.display().to_string()).collect();
    driver.call(
        "POST",
        &format!("/element/{input}/value"),
        json!({"text": paths.join("\n")}),
    );
    driver.wait_for("every file's row", Duration::from_secs(120), |d| {
        d.find_all("#results tbody tr").len() == clips.len() && status(d) == "ready"
    });

    // The table's labels are the API's labels for the same files.
    let mut shown = Vec::new();
    for row in driver.find_all("#results tbody tr") {
        let cell = |css: &str| {
            let found = driver.call(
                "POST",
                &format!("/element/{row}/element"),
                json!({"using": "css selector", "value": css}),
            );
            driver.text(found[ELEMENT].as_str().unwrap())
        };
        shown.push((cell("td.file"), cell("td.label"), cell("td.error")));
    }
    let uploads: Vec<(String, Vec<u8>)> = clips
        .iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(p).unwrap(),
            )
        })
        .collect();
    let mut expected = Vec::new();
    for batch in uploads.chunks(4) {
        let (code, reply) = post_files(&server.url, "", batch);
        assert_eq!(code, 200, "{reply}");
        for r in reply["results"].as_array().unwrap() {
            expected.push((
                r["file"].as_str().unwrap().to_string(),
                r["label"].as_str().unwrap().to_string(),
            ));
        }
    }
    for (file, label, error) in &shown {
        assert!(error.is_empty(), "{file}: {error}");
        let api = expected
            .iter()
            .find(|(f, _)| f == file)
            .unwrap_or_else(|| panic!("{file} not sent"));
        assert_eq!(label, &api.1, "{file}");
    }
    assert_eq!(shown.len(), expected.len());

    if let Some(path) = std::env::var_os("SOUNDCLASS_SCREENSHOT") {
        let png = driver.call("GET", "/screenshot", Value::Null);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
}
