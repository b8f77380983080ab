//! `soundclass serve` over HTTP on 127.0.0.1: the page, health, per-file
//! results and errors, limits (413, 400, too many files), 20 concurrent
//! requests with bounded memory, and no temporary files left behind.

use std::time::Duration;

use crate::common::http::{get, request};
use crate::common::server::{answer, demo_uploads, post_files, tiny_model, Server};

#[test]
fn serves_the_page_and_classifies_uploads_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let tmp = dir.path().join("tmp");
    let server = Server::start(
        &model,
        &tmp,
        &[
            "serve.max_upload_mb=1",
            "serve.workers=2",
            "serve.queue=32",
            "serve.max_files=8",
        ],
    );
    let url = &server.url;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");

    let (status, health) = answer(request("GET", &format!("{url}/api/health"), None, &[]));
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");
    assert_eq!(health["classes"], serde_json::json!(["low", "high"]));
    assert_eq!(health["limits"]["max_upload_bytes"], 1 << 20);
    let page = get(url).text();
    assert!(page.contains("id=\"results\"") && page.contains("/api/predict"));

    // Real clips and a garbage file: each gets its row, the garbage its
    // error under the uploaded name.
    let mut files = demo_uploads(3);
    files.push((
        "garbage.wav".into(),
        b"RIFF\x10\0\0\0WAVEjunkjunkjunk".to_vec(),
    ));
    let (status, reply) = post_files(url, "?mel=1", &files);
    assert_eq!(status, 200, "{reply}");
    let results = reply["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    for (result, (name, _)) in results.iter().zip(&files).take(3) {
        assert_eq!(result["file"], name.as_str());
        assert!(
            ["low", "high"].contains(&result["label"].as_str().unwrap()),
            "{result}"
        );
        assert_eq!(result["probabilities"].as_array().unwrap().len(), 2);
        assert!(!result["windows"].as_array().unwrap().is_empty());
        assert!(result["mel_png"]
            .as_str()
            .unwrap()
            .starts_with("data:image/png;base64,iVBOR"));
    }
    let error = results[3]["error"].as_str().unwrap();
    assert!(error.starts_with("garbage.wav: "), "{error}");
    assert!(
        !error.contains("soundclass-serve-"),
        "temporary path leaked: {error}"
    );

    // Over the body limit: 413. Not multipart, no files, too many: 400.
    let big = vec![("big.wav".to_string(), vec![0u8; 3 << 19])];
    let (status, reply) = post_files(url, "", &big);
    assert_eq!(status, 413, "{reply}");
    assert!(reply["error"].as_str().unwrap().contains("upload limit"));
    let (status, reply) = answer(request(
        "POST",
        &format!("{url}/api/predict"),
        Some("text/plain"),
        b"hello",
    ));
    assert_eq!(status, 400, "{reply}");
    let (status, _) = answer(request(
        "POST",
        &format!("{url}/api/predict"),
        Some("multipart/form-data; boundary=x"),
        b"--x\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.wav\"\r\n\r\nunterminated",
    ));
    assert_eq!(status, 400);
    let (status, reply) = post_files(url, "", &[]);
    assert_eq!(status, 400);
    assert!(reply["error"].as_str().unwrap().contains("no files"));
    let many: Vec<(String, Vec<u8>)> = (0..9)
        .map(|i| (format!("{i}.wav"), vec![1u8; 10]))
        .collect();
    let (status, reply) = post_files(url, "", &many);
    assert_eq!(status, 400);
    assert!(reply["error"].as_str().unwrap().contains("at most 8"));

    // 20 requests at once: all answered, the server stays up, memory bounded.
    let uploads = demo_uploads(2);
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (url, uploads) = (url.clone(), uploads.clone());
            std::thread::spawn(move || post_files(&url, "?mel=1", &uploads))
        })
        .collect();
    for handle in handles {
        let (status, reply) = handle.join().unwrap();
        assert_eq!(status, 200, "{reply}");
        assert_eq!(reply["results"].as_array().unwrap().len(), 2);
    }
    let (status, _) = answer(request("GET", &format!("{url}/api/health"), None, &[]));
    assert_eq!(status, 200);
    let peak = server.peak_rss_mb().unwrap_or(0.0);
    assert!(peak < 1500.0, "server peak RSS {peak:.0} MiB");
    eprintln!("server peak RSS after 20 concurrent requests: {peak:.0} MiB");

    // Every request's temporary folder is gone.
    std::thread::sleep(Duration::from_millis(200));
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert!(
        left.is_empty(),
        "left behind: {:?}",
        left.iter().map(|e| e.path()).collect::<Vec<_>>()
    );
    let (status, reply) = answer(request("GET", &format!("{url}/nowhere"), None, &[]));
    assert_eq!((status, reply["error"].as_str().is_some()), (404, true));
}

#[test]
fn a_full_queue_turns_requests_away_and_bad_limits_are_named() {
    let out =
        crate::common::soundclass(&["serve", "--model", "nowhere", "--set", "serve.workers=0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("serve.workers"));
    let out =
        crate::common::soundclass(&["serve", "--model", "no/such/run", "--addr", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/run"));

    // One worker, no queue: of 6 simultaneous slow requests some get 503.
    let dir = tempfile::tempdir().unwrap();
    let model = tiny_model(dir.path());
    let server = Server::start(
        &model,
        &dir.path().join("tmp"),
        &["serve.workers=1", "serve.queue=0"],
    );
    let uploads = demo_uploads(8);
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let (url, uploads) = (server.url.clone(), uploads.clone());
            std::thread::spawn(move || post_files(&url, "?mel=1", &uploads).0)
        })
        .collect();
    let codes: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(codes.iter().all(|c| *c == 200 || *c == 503), "{codes:?}");
    assert!(codes.contains(&200) && codes.contains(&503), "{codes:?}");
}
