use std::process::ExitCode;

use clap::Parser;
use prov_core::config::{Config, LogFormat};
use tracing_subscriber::EnvFilter;
use yealink_prov::runtime::app::Server;
use yealink_prov::runtime::cli::{
    Cli, Command, run_admin, run_device, run_doctor, run_key, run_pbx, run_render, run_rps,
    run_settings, run_tenant,
};

/// jemalloc rather than glibc's malloc: it gives freed memory back to the system (after a
/// takeover, after a flood of password checks), where glibc kept it; measured in
/// docs/benchmarks.md ("The allocator"), decided in docs/decisions.md.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let listen = match &cli.command {
        Command::Serve { listen } => *listen,
        _ => None,
    };
    let config = cli.global.load_config(listen)?;
    // The demo tells its own story on stdout; keep the server's log to warnings there.
    let default_level = if matches!(cli.command, Command::Demo) {
        "warn"
    } else {
        "info"
    };
    init_logging(&config, default_level);
    match cli.command {
        Command::Serve { .. } if config.tenant.is_some() => anyhow::bail!(
            "`serve` serves every tenant; --tenant (or YEALINK_PROV_TENANT) is for the other commands"
        ),
        Command::Serve { .. } => serve(config).await,
        Command::Device(c) => run_device(&config, c).await,
        Command::Render { mac, file, reveal } => {
            run_render(&config, &mac, file.as_deref(), reveal).await
        }
        Command::Settings(c) => run_settings(&config, c).await,
        Command::Admin(c) => run_admin(&config, c).await,
        Command::Rps(c) => run_rps(&config, c).await,
        Command::Pbx(c) => run_pbx(&config, c).await,
        Command::Key(c) => run_key(&config, c).await,
        Command::Tenant(c) => run_tenant(&config, c).await,
        Command::Doctor { json } => run_doctor(&config, json).await,
        Command::Demo => demo().await,
    }
}

#[cfg(feature = "demo")]
async fn demo() -> anyhow::Result<()> {
    yealink_prov::runtime::demo::run().await
}

/// Built without the simulators: say so rather than offer a command that cannot work.
#[cfg(not(feature = "demo"))]
async fn demo() -> anyhow::Result<()> {
    anyhow::bail!(
        "this yealink-prov was built without the `demo` feature (the simulators it runs); build it with the default features to run the demo"
    )
}

fn init_logging(config: &Config, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    // Colour codes only for a person at a terminal, not in a journal, a file or a pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let server = Server::build(config).await?;
    if let Some(password) = server.generated_admin_password() {
        // Shown once: only its argon2 hash is stored.
        println!("Generated admin password (shown only now, store it safely): {password}");
        println!("Use it as `Authorization: Bearer <password>` for the API under /api/v1.");
    }
    server.run(listener, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
