//! Credentials that need more than the token endpoint: the az CLI (a stand-in `az` on PATH that
//! prints what `az account get-access-token -o json` prints) and GitLab `id_tokens`.

use crate::support::azure;

use azure::entra::AUDIENCE;
use azure::wire::{arm, credential, env};
use azure::{FakeAzure, Issued, CLIENT_ID, TENANT};
use mlcanary::clients::azure::AuthMode;
use std::time::{Duration, Instant};

#[test]
fn cli_credential_runs_az_and_its_token_reaches_arm() {
    let fake = FakeAzure::start();
    fake.seed_endpoint("fraud", "blue");
    let dir = tempfile::tempdir().unwrap();
    let args_file = dir.path().join("args");
    let script = format!(
        "#!/bin/sh\necho \"$@\" > '{}'\ncat <<'JSON'\n{{\"accessToken\": \"cli-access-token-1\", \"expiresOn\": \"2099-01-01 00:00:00.000000\", \"expires_on\": 4070908800, \"subscription\": \"{}\", \"tenant\": \"{TENANT}\", \"tokenType\": \"Bearer\"}}\nJSON\n",
        args_file.display(),
        azure::SUB
    );
    let az = dir.path().join("az");
    std::fs::write(&az, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The SDK runs `az` through /bin/sh with the process environment; this binary has one test
    // touching PATH.
    std::env::set_var("PATH", &path);
    fake.world().tokens.push(Issued {
        token: "cli-access-token-1".into(),
        scope: format!("{}/.default", fake.arm),
        expires: Instant::now() + Duration::from_secs(3600),
    });

    let cred = credential(&fake, &env(&[("PATH", &path)]));
    assert_eq!(cred.mode(), AuthMode::Cli);
    assert!(cred.explanation()[1].contains("AZURE_CLIENT_SECRET not set"));
    let ep = arm(&fake, cred).get(&fake.endpoint_path("fraud")).unwrap();
    assert_eq!(ep.body["properties"]["traffic"]["blue"], 100);
    let args = std::fs::read_to_string(&args_file).unwrap();
    assert!(
        args.contains(&format!(
            "account get-access-token -o json --scope {}/.default",
            fake.arm
        )),
        "{args}"
    );
}

#[test]
fn gitlab_id_token_is_the_client_assertion() {
    let fake = FakeAzure::start();
    fake.seed_endpoint("fraud", "blue");
    let jwt = "eyJhbGciOiJSUzI1NiJ9.gitlab-id-token.sig";
    fake.world().oidc_issued.push((jwt.into(), AUDIENCE.into()));
    let e = env(&[
        ("AZURE_ID_TOKEN", jwt),
        ("AZURE_TENANT_ID", TENANT),
        ("AZURE_CLIENT_ID", CLIENT_ID),
    ]);
    let cred = credential(&fake, &e);
    assert_eq!(cred.mode(), AuthMode::Oidc);
    let ep = arm(&fake, cred).get(&fake.endpoint_path("fraud")).unwrap();
    assert_eq!(ep.status, 200);
    let w = fake.world();
    assert!(w.token_requests[0].contains(&(
        "client_assertion_type".into(),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()
    )));
}
