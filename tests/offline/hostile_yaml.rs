//! Config text built to hurt the parser: deep nesting, alias bombs, huge scalars. Each must end
//! quickly with an error (or a config), never a crash or a hang.

use mlcanary::config::load_str;

fn load(text: &str) -> Result<mlcanary::config::Config, String> {
    load_str("c.yaml", text, None).map_err(|e| e.to_string())
}

#[test]
fn deep_flow_nesting_is_an_error_not_a_stack_overflow() {
    for (prefix, open) in [("name: ", "["), ("name: ", "{"), ("", "- ")] {
        let text = format!("{prefix}{}", open.repeat(100_000));
        let e = load(&text).unwrap_err();
        assert!(e.contains("nested deeper than 64 levels"), "{open}: {e}");
    }
}

#[test]
fn deep_block_nesting_is_an_error_not_a_stack_overflow() {
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&" ".repeat(i));
        text.push_str("a:\n");
    }
    let e = load(&text).unwrap_err();
    assert!(e.contains("nested deeper than 64 levels"), "{e}");
}

#[test]
fn nesting_inside_quotes_and_comments_is_not_nesting() {
    let deep = "[".repeat(200);
    let text = format!(
        "apiVersion: mlcanary/v1\nname: fraud # {deep}\nmodel: {{uri: \"s3://{deep}\", format: sklearn}}\n\
         target: {{platform: kserve}}\nstages: [50]\n"
    );
    let c = load(&text).unwrap();
    assert_eq!(c.model.uri, format!("s3://{deep}"));
}

#[test]
fn an_alias_bomb_is_refused() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let p = i - 1;
        text.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    text.push_str("name: *a11\n");
    assert!(load(&text).is_err());
}
