//! Values from the pipeline, through the binary: `${VAR}` in `model.*` from the job's environment,
//! `--set KEY.PATH=VALUE` on any command that reads the config, and a refusal (exit 2, on the
//! line) of a `${...}` nobody resolved, which used to be deployed literally.

use assert_cmd::Command;

fn config_with_uri(dir: &std::path::Path, uri: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string("examples/kserve.yaml")
        .unwrap()
        .replace(
            "uri: s3://models/fraud-detector-v2/",
            &format!("uri: {uri}"),
        );
    assert!(text.contains(uri));
    let f = dir.join("c.yaml");
    std::fs::write(&f, text).unwrap();
    f
}

fn mlcanary() -> Command {
    let mut c = Command::cargo_bin("mlcanary").unwrap();
    c.env_remove("GITHUB_ACTIONS").env_remove("MODEL_URI");
    c
}

#[test]
fn an_unresolved_variable_is_refused_on_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = config_with_uri(dir.path(), "${MODEL_URI}");
    let out = mlcanary()
        .args(["validate", "-c", f.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:10:", f.display()))
            && err.contains("model.uri: ${MODEL_URI} is not set in the environment"),
        "{err}"
    );
}

#[test]
fn the_environment_and_set_give_the_model_version() {
    let dir = tempfile::tempdir().unwrap();
    let f = config_with_uri(dir.path(), "s3://models/fraud/${BUILD}/");
    let render = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = render(mlcanary().env("BUILD", "v42").args([
        "render",
        "-c",
        f.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert!(
        text.contains("s3://models/fraud/v42/") && !text.contains("${BUILD}"),
        "{text}"
    );
    let text = render(mlcanary().args([
        "render",
        "-c",
        f.to_str().unwrap(),
        "--format",
        "json",
        "--set",
        "model.uri=gs://acme/churn/2026-11-20/",
        "--set",
        "model.version=v43",
    ]));
    assert!(text.contains("gs://acme/churn/2026-11-20/"), "{text}");
    let out = mlcanary()
        .args([
            "validate",
            "-c",
            f.to_str().unwrap(),
            "--set",
            "stages[0].weight=0",
        ])
        .env("BUILD", "v1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(after --set)"));
}
