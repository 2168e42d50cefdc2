//! The `mlcanary` binary: parse, run, map the outcome to an exit code, print the error chain.

fn main() {
    let mut logs =
        env_logger::Builder::from_env(env_logger::Env::new().filter_or("MLCANARY_LOG", "warn"));
    for target in mlcanary::clients::http::WIRE_LOG_TARGETS {
        logs.filter_module(target, log::LevelFilter::Info);
    }
    logs.init();
    let cli = mlcanary::cli::parse();
    let code = match mlcanary::commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            mlcanary::commands::validate::annotate_errors(&e);
            let code = mlcanary::commands::exit_code(&e);
            if code == 2 && e.chain().count() == 1 {
                eprintln!("{}", mlcanary::report::github::safe_text(&e.to_string()));
            } else {
                eprintln!(
                    "error: {}",
                    mlcanary::report::github::safe_text(&e.to_string())
                );
                for cause in e.chain().skip(1) {
                    let cause = mlcanary::report::github::safe_text(&cause.to_string());
                    eprintln!("  caused by: {cause}");
                }
            }
            code
        }
    };
    std::process::exit(code);
}
