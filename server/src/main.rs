use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};
use qlink_server::config::{Config, DbArgs, LogFormat, WhatsAppArgs, WorkerArgs};
use qlink_server::error::ApiError;
use qlink_server::{accounts, demo, migrate, serve, sql, whatsapp, worker};

/// QLink: a live walk-in queue for clinics.
#[derive(Parser)]
#[command(name = "qlink", version, about)]
struct Cli {
    /// Log format.
    #[arg(long, env = "QLINK_LOG_FORMAT", value_enum, default_value = "text", global = true)]
    log_format: LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (API and pages) and the message worker.
    Serve(ServeCmd),
    /// Run only the message worker (any number of workers and servers may run at once).
    Worker(WorkerCmd),
    /// Apply the database migrations (tables, roles, the qlink extension).
    Migrate(DbOnly),
    /// Manage clinics.
    #[command(subcommand)]
    Clinic(ClinicCmd),
    /// Manage staff and operator logins.
    #[command(subcommand)]
    User(UserCmd),
    /// Create (or refresh) the demo clinic with a staff and an admin login, and print them.
    Demo(DemoCmd),
    /// WhatsApp set-up.
    #[command(subcommand)]
    Whatsapp(WhatsAppCmd),
}

#[derive(Subcommand)]
enum WhatsAppCmd {
    /// Print every message template QLink sends (each template in each language) as a JSON
    /// array of bodies of Meta's template-creation API; with --create, submit them.
    Templates {
        /// Submit each definition to `POST /{version}/{waba_id}/message_templates` with
        /// WHATSAPP_ACCESS_TOKEN, and print what Meta answered.
        #[arg(long, requires = "waba_id")]
        create: bool,
        /// The WhatsApp Business account the templates belong to.
        #[arg(long)]
        waba_id: Option<String>,
        #[command(flatten)]
        whatsapp: WhatsAppArgs,
    },
}

#[derive(Args)]
struct ServeCmd {
    #[command(flatten)]
    config: Config,
    /// Don't migrate on start; refuse to start if the schema is behind.
    #[arg(long, env = "QLINK_NO_MIGRATE", value_parser = BoolishValueParser::new())]
    no_migrate: bool,
    /// Don't run the message worker in this process (run `qlink worker` elsewhere).
    #[arg(long, env = "QLINK_NO_WORKER", value_parser = BoolishValueParser::new())]
    no_worker: bool,
}

#[derive(Args)]
struct WorkerCmd {
    #[command(flatten)]
    db: DbArgs,
    /// Base of the patients' tracking links in messages.
    #[arg(long, env = "QLINK_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    public_url: String,
    #[command(flatten)]
    whatsapp: WhatsAppArgs,
    #[command(flatten)]
    worker: WorkerArgs,
}

#[derive(Args)]
struct DbOnly {
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Subcommand)]
enum ClinicCmd {
    /// Create a clinic and print its id.
    Create {
        #[command(flatten)]
        db: DbArgs,
        /// Short name used in links: lowercase letters, digits and dashes.
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "Asia/Kolkata")]
        timezone: String,
        #[arg(long, value_parser = ["TRIAL", "ACTIVE"], default_value = "ACTIVE")]
        status: String,
    },
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a login. The password comes from QLINK_PASSWORD, or is asked for.
    Create {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        email: String,
        /// STAFF works a clinic's desk; OWNER also manages the clinic (its queues, rooms,
        /// staff logins and settings); SUPER_ADMIN is the operator.
        #[arg(long, value_parser = ["STAFF", "OWNER", "SUPER_ADMIN"])]
        role: String,
        /// The clinic's slug (STAFF and OWNER).
        #[arg(long)]
        clinic: Option<String>,
        /// Pin the login to this room of the clinic (its name, e.g. "Room 2"): it then works
        /// in that room only.
        #[arg(long, requires = "clinic")]
        room: Option<String>,
    },
}

#[derive(Args)]
struct DemoCmd {
    #[command(flatten)]
    db: DbArgs,
    #[arg(long, env = "QLINK_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
    public_url: String,
}

fn init_tracing(format: LogFormat) {
    // tokio-postgres logs every statement's parameters at DEBUG: password hashes, session
    // digests, patients' names and phones. Never below INFO, whatever RUST_LOG asks.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info".into())
        .add_directive("tokio_postgres=info".parse().expect("static directive"));
    match format {
        LogFormat::Json => tracing_subscriber::fmt().json().with_env_filter(filter).init(),
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
    }
}

fn read_password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("QLINK_PASSWORD") {
        return Ok(p);
    }
    let first = rpassword::prompt_password("Password: ")?;
    let again = rpassword::prompt_password("Password again: ")?;
    anyhow::ensure!(first == again, "the passwords differ");
    Ok(first)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    match cli.command {
        Command::Serve(c) => serve::run(c.config, c.no_migrate, c.no_worker).await?,
        Command::Worker(c) => {
            let shutdown = tokio_util::sync::CancellationToken::new();
            tokio::spawn(serve::shutdown_signal(shutdown.clone()));
            worker::run(c.db.worker_config()?, c.public_url, c.whatsapp, c.worker, shutdown).await?;
        }
        Command::Migrate(c) => {
            let report = migrate::run(&c.db.database_url).await?;
            println!("migrations applied: {}", report.applied);
            match (&report.extension_before, &report.extension_after) {
                (Some(before), Some(after)) if before != after => println!("extension qlink: {before} -> {after}"),
                (_, Some(after)) => println!("extension qlink: {after}"),
                _ => {}
            }
        }
        Command::Clinic(ClinicCmd::Create { db, slug, name, timezone, status }) => {
            let client = owner_client(&db).await?;
            let clinic = sql::NewBusiness {
                slug: &slug,
                name: &name,
                timezone: Some(&timezone),
                status: Some(&status),
                ..Default::default()
            };
            let id = sql::create_business(&client, None, &clinic, None).await.map_err(cli_error)?;
            println!("{id}");
        }
        Command::User(UserCmd::Create { db, email, role, clinic, room }) => {
            let password = read_password()?;
            accounts::check_password_strength(&password).map_err(anyhow::Error::msg)?;
            let hash = accounts::hash_password(&password)?;
            let client = owner_client(&db).await?;
            let business = match clinic {
                Some(slug) => Some(sql::clinic_by_slug(&client, &slug).await.map_err(cli_error)?.business_id),
                None => None,
            };
            let room_id = match (room, business) {
                (Some(name), Some(business)) => {
                    let rooms = sql::list_rooms(&client, business).await.map_err(cli_error)?;
                    let wanted = name.trim();
                    let found = rooms
                        .iter()
                        .find(|r| r.name == wanted)
                        .or_else(|| rooms.iter().find(|r| r.name.to_lowercase() == wanted.to_lowercase()));
                    match found {
                        Some(r) => Some(r.room_id),
                        None => {
                            let names: Vec<&str> = rooms.iter().map(|r| r.name.as_str()).collect();
                            anyhow::bail!(
                                "The clinic has no room called \"{wanted}\" (its rooms: {}).",
                                names.join(", ")
                            )
                        }
                    }
                }
                _ => None,
            };
            let id = sql::create_staff_user(&client, None, &email, &hash, &role, business, room_id)
                .await
                .map_err(cli_error)?;
            println!("{id}");
        }
        Command::Demo(c) => demo::run(&c.db, &c.public_url).await?,
        Command::Whatsapp(WhatsAppCmd::Templates { create, waba_id, whatsapp }) => {
            templates(create, waba_id, &whatsapp).await?
        }
    }
    Ok(())
}

/// `qlink whatsapp templates [--create --waba-id ID]`.
async fn templates(create: bool, waba_id: Option<String>, args: &WhatsAppArgs) -> anyhow::Result<()> {
    let definitions = whatsapp::templates::creation_bodies();
    let (true, Some(waba_id)) = (create, waba_id) else {
        println!("{}", serde_json::to_string_pretty(&definitions)?);
        return Ok(());
    };
    let token = args.whatsapp_access_token.as_ref().filter(|t| !t.expose().trim().is_empty()).ok_or_else(|| {
        anyhow::anyhow!("--create needs WHATSAPP_ACCESS_TOKEN (a token allowed to manage the account's templates)")
    })?;
    let http = whatsapp::http_client()?;
    let mut results = Vec::new();
    let mut refused = 0;
    for definition in &definitions {
        let submitted = whatsapp::submit_template(
            &http,
            &args.whatsapp_api_base,
            &args.whatsapp_api_version,
            waba_id.trim(),
            token,
            definition,
        )
        .await;
        let mut result = serde_json::json!({"name": submitted.name, "language": submitted.language});
        match (submitted.accepted, submitted.error) {
            (Some((id, status)), _) => {
                result["id"] = id.into();
                result["status"] = status.into();
            }
            (None, error) => {
                refused += 1;
                result["error"] = error.unwrap_or_default();
            }
        }
        results.push(result);
    }
    println!("{}", serde_json::to_string_pretty(&results)?);
    anyhow::ensure!(refused == 0, "{refused} of {} templates were not accepted", definitions.len());
    Ok(())
}

/// A connection as the database owner, for the operator's commands.
async fn owner_client(db: &DbArgs) -> anyhow::Result<deadpool_postgres::Client> {
    Ok(qlink_server::db::pool(db.owner_config()?, 1)?.get().await?)
}

/// The extension's own message (written for people), with the cause of anything else.
fn cli_error(e: ApiError) -> anyhow::Error {
    match e {
        ApiError::Internal(cause) | ApiError::Unavailable(cause) => cause,
        other => anyhow::anyhow!("{other}"),
    }
}
