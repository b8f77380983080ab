//! With the `tch` feature, records LibTorch's library folder as the rpath of
//! the binary and test executables, so that they start without
//! LD_LIBRARY_PATH (a job script, `env -i`, another user). The folder is
//! found as torch-sys finds it: `LIBTORCH_LIB` or `LIBTORCH` (+ `/lib`), or
//! the active Python's torch with `LIBTORCH_USE_PYTORCH`
//! (scripts/setup_libtorch.sh). Without the feature this does nothing.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    for var in [
        "LIBTORCH",
        "LIBTORCH_LIB",
        "LIBTORCH_USE_PYTORCH",
        "VIRTUAL_ENV",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    if std::env::var_os("CARGO_FEATURE_TCH").is_none() {
        return;
    }
    match libtorch_lib() {
        Some(dir) => println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display()),
        None => println!(
            "cargo:warning=LibTorch's library folder not found: binaries will need LD_LIBRARY_PATH"
        ),
    }
}

fn libtorch_lib() -> Option<PathBuf> {
    for var in ["LIBTORCH_LIB", "LIBTORCH"] {
        if let Some(root) = std::env::var_os(var) {
            return Some(PathBuf::from(root).join("lib"));
        }
    }
    std::env::var_os("LIBTORCH_USE_PYTORCH")?;
    let python = if std::env::var_os("VIRTUAL_ENV").is_some() {
        "python"
    } else {
        "python3"
    };
    let out = Command::new(python)
        .args([
            "-c",
            "import os, torch; print(os.path.join(os.path.dirname(torch.__file__), 'lib'))",
        ])
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}
