//! The `mlcanary` binary: parse, run, map the outcome to an exit code, print the error chain.

fn main() {
    mlcanary::report::logging::init();
    let cli = mlcanary::cli::parse();
    let code = match mlcanary::commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            use mlcanary::report::redact::neutralise;
            mlcanary::commands::validate::annotate_errors(&e);
            let code = mlcanary::commands::exit_code(&e);
            if code == 2 && e.chain().count() == 1 {
                eprintln!("{}", neutralise(&e.to_string()));
            } else {
                eprintln!("error: {}", neutralise(&e.to_string()));
                for cause in e.chain().skip(1) {
                    eprintln!("  caused by: {}", neutralise(&cause.to_string()));
                }
            }
            code
        }
    };
    std::process::exit(code);
}
