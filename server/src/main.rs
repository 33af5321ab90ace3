use clap::{Parser, Subcommand};

/// QLink: a live walk-in queue for clinics.
#[derive(Parser)]
#[command(name = "qlink", version, about)]
struct Cli {
    /// PostgreSQL connection string of the database owner.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true,
          default_value = "postgres://postgres@127.0.0.1:5432/qlink")]
    database_url: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the database migrations (tables, roles, the qlink extension).
    Migrate,
    /// Create (or show) the demo clinic and print how to drive it.
    Demo,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Migrate => {
            let applied = qlink_server::migrate::run(&cli.database_url).await?;
            println!("migrations applied: {applied}");
        }
        Command::Demo => qlink_server::demo::run(&cli.database_url).await?,
    }
    Ok(())
}
