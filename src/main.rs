//! The entente command line: serve, migrate, import, schema, account.
use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use entente::auth::PlatformRole;
use entente::territory::import::{self, ImportOptions};
use entente::Config;

/// mimalloc instead of glibc's allocator: under load, rows allocated on the database
/// threads and freed on the runtime threads made glibc's arena locks a hot spot.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "entente", version, about = "GraphQL backend for conferences of mayors and their communes")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DbArgs {
    /// sqlite://FILE (created on first run) or postgres://USER@HOST/DB
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://entente.db", global = true)]
    database_url: String,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (pending migrations are applied first).
    Serve {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long, env = "ENTENTE_BIND", default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// Load the AMP demo into an empty database (loopback addresses only).
        #[arg(long)]
        demo: bool,
        /// Production mode: no introspection, no field suggestions, no GraphiQL.
        #[arg(long, env = "ENTENTE_PRODUCTION")]
        production: bool,
        /// Log as JSON lines instead of text.
        #[arg(long, env = "ENTENTE_LOG_JSON")]
        log_json: bool,
        /// Size of the database connection pool (default: the number of cores, which
        /// measured best on SQLite and PostgreSQL; see BENCHMARKS.md).
        #[arg(long, env = "ENTENTE_DB_MAX_CONNECTIONS")]
        db_max_connections: Option<u32>,
        /// Password hashes computed at once (default: one per core; fewer keep cores for
        /// queries while people sign in, at the cost of sign-in latency).
        #[arg(long, env = "ENTENTE_HASH_SLOTS")]
        hash_slots: Option<usize>,
        /// Entries of the per-account query response cache; 0 turns it off.
        #[arg(long, env = "ENTENTE_RESPONSE_CACHE_ENTRIES", default_value_t = 2_000)]
        response_cache_entries: usize,
        /// A reverse proxy whose X-Forwarded-For header is believed (repeat, or comma-separate
        /// in the environment variable).
        #[arg(long = "trusted-proxy", env = "ENTENTE_TRUSTED_PROXIES", value_delimiter = ',')]
        trusted_proxies: Vec<std::net::IpAddr>,
        /// An origin (scheme://host[:port]) whose browser pages may call the API (CORS);
        /// repeat, or comma-separate in the environment variable. None by default.
        #[arg(long = "cors-origin", env = "ENTENTE_CORS_ORIGINS", value_delimiter = ',')]
        cors_origins: Vec<String>,
        /// Largest meeting document accepted, in MiB.
        #[arg(long, env = "ENTENTE_MAX_DOCUMENT_MIB", default_value_t = 10)]
        max_document_mib: usize,
        /// Seconds between runs of the periodic job (referrals closed at their deadline, their
        /// reminders, the concertation reminders of policies).
        #[arg(long, env = "ENTENTE_REFERRAL_JOB_SECONDS", default_value_t = 60)]
        referral_job_seconds: u64,
        #[command(flatten)]
        mail: MailArgs,
    },
    /// Apply pending migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Import official data.
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Manage accounts.
    Account {
        #[command(subcommand)]
        what: AccountWhat,
    },
    /// Copy a SQLite database into FILE, a new file, while the server may run (PostgreSQL:
    /// use pg_dump). Restore: stop the server, put the copy in place of the database file,
    /// delete its -wal and -shm files, start.
    Backup {
        #[command(flatten)]
        db: DbArgs,
        /// The copy to write; an existing file is refused.
        file: PathBuf,
    },
}

/// Where e-mails go (issue 16).
#[derive(Args, Clone)]
struct MailArgs {
    /// The SMTP server: smtp://[user:password@]host[:port] (add ?tls=required for
    /// STARTTLS) or smtps://[user:password@]host[:port] (TLS). Without it, messages are
    /// written as .eml files to --mail-dir.
    #[arg(long, env = "ENTENTE_SMTP_URL")]
    smtp_url: Option<String>,
    /// The From of every message: "Name <address>" or an address.
    #[arg(long, env = "ENTENTE_MAIL_FROM", default_value = "entente <noreply@localhost>")]
    mail_from: String,
    /// Where .eml files are written without --smtp-url (default: a "mail" folder beside
    /// the SQLite database, or ./mail).
    #[arg(long, env = "ENTENTE_MAIL_DIR")]
    mail_dir: Option<PathBuf>,
    /// The address people reach entente at, for the links in messages (default: the
    /// --bind address over http).
    #[arg(long, env = "ENTENTE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Messages started per second at most.
    #[arg(long, env = "ENTENTE_MAIL_PER_SECOND", default_value_t = 50)]
    mail_per_second: u32,
}

#[derive(Subcommand)]
enum ImportWhat {
    /// Communes and intercommunalities from decoupage-administratif JSON files.
    Territory {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        communes: PathBuf,
        #[arg(long)]
        epci: PathBuf,
        /// The Grand Paris territories (établissements publics territoriaux).
        #[arg(long)]
        ept: Option<PathBuf>,
        /// Census year of communes.json populations.
        #[arg(long, default_value_t = 2023)]
        communes_population_year: i32,
        /// Census year of epci.json / ept.json populations.
        #[arg(long, default_value_t = 2022)]
        epci_population_year: i32,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum NewRole {
    Admin,
    Secretariat,
}

#[derive(Subcommand)]
enum AccountWhat {
    /// Create an admin or secretariat account with its person. The password is read
    /// from standard input when it is not a terminal, else generated and printed once.
    Create {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long)]
        email: String,
        #[arg(long)]
        given_name: String,
        #[arg(long)]
        family_name: String,
        #[arg(long, value_enum)]
        role: NewRole,
        /// SIREN of the intercommunality a secretariat serves.
        #[arg(long)]
        siren: Option<String>,
    },
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    // Colours only for a terminal: a file or a log collector gets plain text.
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    if json {
        b.json().init();
    } else {
        b.init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Schema => {
            print!("{}", entente::graphql::sdl());
        }
        Command::Migrate { db } => {
            init_logs(false);
            entente::state(Config::new(db.database_url)).await?;
            println!("migrations applied");
        }
        Command::Serve {
            db,
            bind,
            demo,
            production,
            log_json,
            db_max_connections,
            hash_slots,
            response_cache_entries,
            trusted_proxies,
            cors_origins,
            max_document_mib,
            referral_job_seconds,
            mail,
        } => {
            init_logs(log_json);
            if demo && !bind.ip().is_loopback() {
                anyhow::bail!(
                    "--demo serves well-known passwords: bind to a loopback address (127.0.0.1 or ::1), not {bind}"
                );
            }
            let mut config = Config::new(db.database_url);
            config.bind = bind;
            config.production = production;
            config.graphiql = !production;
            config.response_cache_entries = response_cache_entries;
            config.trusted_proxies = trusted_proxies;
            for o in &cors_origins {
                let valid = axum::http::HeaderValue::from_str(o).is_ok()
                    && (o.starts_with("http://") || o.starts_with("https://"))
                    && !o.ends_with('/');
                if !valid {
                    anyhow::bail!("--cors-origin {o:?}: give an origin such as https://app.example.org (no path)");
                }
            }
            config.cors_origins = cors_origins;
            config.limits.document_bytes = max_document_mib.clamp(1, 1024) << 20;
            if let Some(n) = hash_slots {
                config.auth.hash_slots = n.max(1);
            }
            if let Some(n) = db_max_connections {
                config.max_db_connections = n.max(1);
            }
            config.mail.smtp_url = mail.smtp_url.filter(|u| !u.is_empty());
            config.mail.from = mail.mail_from;
            if let Some(d) = mail.mail_dir {
                config.mail.dir = d;
            }
            config.mail.public_url = mail.public_url.unwrap_or_else(|| format!("http://{bind}"));
            config.mail.per_second = mail.mail_per_second.max(1);
            let state = entente::state(config).await?;
            if demo {
                let r = entente::demo::load(&state).await.map_err(|e| anyhow::anyhow!("demo: {e}"))?;
                tracing::info!(
                    communes = r.communes,
                    persons = r.persons,
                    accounts = r.accounts,
                    "demo loaded; password of every demo account: {}",
                    entente::demo::DEMO_PASSWORD
                );
            }
            let listener = tokio::net::TcpListener::bind(bind).await?;
            tracing::info!("listening on http://{}/graphql", listener.local_addr()?);
            let every = std::time::Duration::from_secs(referral_job_seconds.max(1));
            let job = entente::jobs::spawn(state.db.clone(), every);
            let mailer = entente::start_mail(&state)?;
            match &state.config.mail.smtp_url {
                Some(_) => tracing::info!("e-mails go to the SMTP server of --smtp-url"),
                None => {
                    tracing::info!(folder = %state.config.mail.dir.display(), "no --smtp-url: e-mails are written as .eml files")
                }
            }
            let db = state.db.clone();
            entente::serve(listener, entente::app(state)).await?;
            job.task.abort();
            mailer.abort();
            // The WAL into the database file, so that `entente.db` alone holds every write.
            entente::backup::checkpoint_and_close(db).await;
        }
        Command::Import {
            what: ImportWhat::Territory { db, communes, epci, ept, communes_population_year, epci_population_year },
        } => {
            init_logs(false);
            let mut opts = ImportOptions::default();
            opts.communes_population.year = communes_population_year;
            opts.epci_population.year = epci_population_year;
            let parsed = match import::parse_files(&communes, &epci, ept.as_deref()) {
                Ok(p) => p,
                Err(refused) => {
                    eprint!("{refused}");
                    return Ok(ExitCode::from(2));
                }
            };
            let state = entente::state(Config::new(db.database_url)).await?;
            let actor = entente::auth::Actor::system("import");
            let started = std::time::Instant::now();
            let report =
                import::apply(&state, &actor, parsed, &opts).await.map_err(|e| anyhow::anyhow!("import: {e:?}"))?;
            println!("{report}");
            println!("took {:.1} s", started.elapsed().as_secs_f64());
        }
        Command::Backup { db, file } => {
            let started = std::time::Instant::now();
            match entente::backup::backup(&db.database_url, &file).await {
                Ok(r) => println!(
                    "backup written to {} ({} bytes, integrity ok) in {:.1} s",
                    file.display(),
                    r.bytes,
                    started.elapsed().as_secs_f64()
                ),
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(2));
                }
            }
        }
        Command::Account { what: AccountWhat::Create { db, email, given_name, family_name, role, siren } } => {
            init_logs(false);
            let state = entente::state(Config::new(db.database_url)).await?;
            let secretariat_of = match &siren {
                None => None,
                Some(s) => {
                    let siren = entente::territory::rules::Siren::parse(s).map_err(|m| anyhow::anyhow!(m))?;
                    Some(
                        entente::territory::service::intercommunality_id_by_siren(&state, &siren)
                            .await
                            .map_err(|e| anyhow::anyhow!("{e}"))?,
                    )
                }
            };
            let (password, generated) = if std::io::stdin().is_terminal() {
                (entente::auth::rules::generate_password(), true)
            } else {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line)?;
                (line.trim_end_matches(['\n', '\r']).to_string(), false)
            };
            let role = match role {
                NewRole::Admin => PlatformRole::Admin,
                NewRole::Secretariat => PlatformRole::Secretariat,
            };
            let acc = entente::auth::service::create_account(
                &state,
                &email,
                &given_name,
                &family_name,
                role,
                secretariat_of,
                &password,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("account {} created ({})", acc.email, acc.platform_role);
            if generated {
                println!("password (shown once): {password}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
