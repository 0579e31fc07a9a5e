//! Merges the configuration layers into one TOML table and deserializes it, naming bad keys.

use super::Config;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// The file read when `--config` is not given, if it exists.
const DEFAULT_CONFIG_FILE: &str = "config/mcp-authd.toml";
/// Prefix of environment variables that set configuration keys.
const ENV_PREFIX: &str = "MCP_AUTHD_";
/// `MCP_AUTHD_CONFIG` names the file (like `--config`), so it is not itself a key.
const CONFIG_PATH_ENV: &str = "MCP_AUTHD_CONFIG";

/// Values given as command-line flags, the last and strongest layer.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--config PATH`.
    pub config_path: Option<PathBuf>,
    /// `serve --listen`.
    pub listen: Option<SocketAddr>,
    /// `serve --issuer`.
    pub issuer: Option<String>,
    /// `--data-dir`.
    pub data_dir: Option<PathBuf>,
}

/// A configuration problem, with the key (or file) it concerns, shown to the operator at start.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {key}: {message}")]
pub struct ConfigError {
    /// The dotted key, environment variable or file the problem is in.
    pub key: String,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
}

impl ConfigError {
    /// A problem with one key.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Loads defaults, the TOML file, `MCP_AUTHD_*` and `DATABASE_URL` from `env`, then flags.
pub fn load(
    overrides: &Overrides,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut table = match &overrides.config_path {
        Some(path) => read_file(path)?,
        None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
            read_file(Path::new(DEFAULT_CONFIG_FILE))?
        }
        None => Table::new(),
    };
    apply_env(&mut table, env)?;
    apply_flags(&mut table, overrides);

    let mut config: Config =
        serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| {
            let path = e.path().to_string();
            let key = if path == "." {
                "config".to_owned()
            } else {
                path
            };
            ConfigError::new(key, e.into_inner().to_string())
        })?;
    super::providers::read_secret_files(&mut config.identity_providers)?;
    super::validate::validate(&config)?;
    Ok(config)
}

fn read_file(path: &Path) -> Result<Table, ConfigError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(&shown, format!("cannot read the config file: {e}")))?;
    text.parse::<Table>()
        .map_err(|e| ConfigError::new(&shown, format!("not valid TOML: {}", e.message())))
}

fn apply_env(
    table: &mut Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let mut vars: Vec<(String, String)> = env.into_iter().collect();
    // Sorted so that a more specific MCP_AUTHD_DATABASE_URL is applied after DATABASE_URL.
    vars.sort();
    for (name, value) in vars {
        let path: Vec<String> = if name == "DATABASE_URL" {
            vec!["database_url".to_owned()]
        } else if let Some(rest) = name.strip_prefix(ENV_PREFIX) {
            if name == CONFIG_PATH_ENV {
                continue;
            }
            rest.split("__").map(str::to_ascii_lowercase).collect()
        } else {
            continue;
        };
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::new(name, "not a configuration key"));
        }
        let set = match path.as_slice() {
            [list, id, key] if list == PROVIDERS => {
                set_provider_key(table, id, key, Value::String(value))
            }
            _ => set_path(table, &path, Value::String(value)),
        };
        set.map_err(|message| ConfigError::new(&name, message))?;
    }
    Ok(())
}

fn apply_flags(table: &mut Table, overrides: &Overrides) {
    let flags = [
        ("listen", overrides.listen.map(|a| a.to_string())),
        ("issuer", overrides.issuer.clone()),
        (
            "data_dir",
            overrides.data_dir.as_ref().map(|d| d.display().to_string()),
        ),
    ];
    for (key, value) in flags {
        if let Some(value) = value {
            table.insert(key.to_owned(), Value::String(value));
        }
    }
}

/// `[[identity_providers]]`, whose entries the environment names by `id`.
const PROVIDERS: &str = "identity_providers";

/// `MCP_AUTHD_IDENTITY_PROVIDERS__{ID}__{KEY}`: sets `key` of the provider with that `id`
/// (ids compare case-insensitively, as variable names are upper case), adding the provider
/// when the file has none, so a provider can be configured, or its secret given, by
/// environment alone.
fn set_provider_key(table: &mut Table, id: &str, key: &str, value: Value) -> Result<(), String> {
    let list = table
        .entry(PROVIDERS)
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
        .ok_or("identity_providers is not a list of tables")?;
    let position = list.iter().position(|entry| {
        entry
            .get("id")
            .and_then(Value::as_str)
            .is_some_and(|existing| existing.eq_ignore_ascii_case(id))
    });
    let entry = match position {
        Some(index) => &mut list[index],
        None => {
            let mut fresh = Table::new();
            fresh.insert("id".to_owned(), Value::String(id.to_owned()));
            list.push(Value::Table(fresh));
            list.last_mut().ok_or("identity_providers is empty")?
        }
    };
    entry
        .as_table_mut()
        .ok_or("identity_providers holds a value that is not a table")?
        .insert(key.to_owned(), value);
    Ok(())
}

fn set_path(table: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parents)) = path.split_last() else {
        return Err("empty key".to_owned());
    };
    let mut current = table;
    for part in parents {
        let entry = current
            .entry(part.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{part}` is not a section, so it has no nested keys"))?;
    }
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Seconds;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_no_configuration() {
        let config = load(&Overrides::default(), env(&[])).unwrap();
        assert_eq!(config.issuer, "http://127.0.0.1:8080");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert!(config.database_url().expose().starts_with("sqlite://data"));
    }

    #[test]
    fn environment_sets_nested_keys_and_lists() {
        let config = load(
            &Overrides::default(),
            env(&[
                ("MCP_AUTHD_TOKENS__ACCESS_TOKEN_TTL", "15m"),
                (
                    "MCP_AUTHD_REGISTRATION__ALLOWED_REDIRECT_SCHEMES",
                    "cursor, vscode",
                ),
                ("MCP_AUTHD_LOGIN__MAX_FAILURES", "9"),
                ("MCP_AUTHD_CIMD__ENABLED", "false"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.tokens.access_token_ttl, Seconds(900));
        assert_eq!(
            config.registration.allowed_redirect_schemes,
            ["cursor", "vscode"]
        );
        assert_eq!(config.login.max_failures, 9);
        assert!(!config.cimd.enabled);
    }

    #[test]
    fn environment_sets_a_providers_keys_by_its_id() {
        let config = load(
            &Overrides::default(),
            env(&[
                ("MCP_AUTHD_IDENTITY_PROVIDERS__CORP__NAME", "Acme SSO"),
                (
                    "MCP_AUTHD_IDENTITY_PROVIDERS__CORP__ISSUER",
                    "https://login.acme.example",
                ),
                ("MCP_AUTHD_IDENTITY_PROVIDERS__CORP__CLIENT_ID", "mcp-authd"),
                (
                    "MCP_AUTHD_IDENTITY_PROVIDERS__CORP__CLIENT_SECRET",
                    "s3cret",
                ),
                (
                    "MCP_AUTHD_IDENTITY_PROVIDERS__CORP__ALLOWED_EMAIL_DOMAINS",
                    "acme.example, acme.test",
                ),
                ("MCP_AUTHD_IDENTITY_PROVIDERS__CORP__AUTO_CREATE", "false"),
            ]),
        )
        .unwrap();
        let corp = &config.identity_providers[0];
        assert_eq!((corp.id.as_str(), corp.name.as_str()), ("corp", "Acme SSO"));
        assert_eq!(corp.client_secret.as_ref().unwrap().expose(), "s3cret");
        assert_eq!(corp.allowed_email_domains, ["acme.example", "acme.test"]);
        assert_eq!(corp.scopes(), ["openid", "email", "profile"]);
        assert!(!corp.auto_create);
    }

    #[test]
    fn flags_win_over_environment() {
        let overrides = Overrides {
            issuer: Some("https://auth.example.com".into()),
            ..Default::default()
        };
        let config = load(
            &overrides,
            env(&[("MCP_AUTHD_ISSUER", "https://other.example.com")]),
        )
        .unwrap();
        assert_eq!(config.issuer, "https://auth.example.com");
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = load(
            &Overrides::default(),
            env(&[("MCP_AUTHD_TOKENS__ACCESS_TOKEN_TTL", "soon")]),
        )
        .unwrap_err();
        assert_eq!(err.key, "tokens.access_token_ttl");
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let err = load(
            &Overrides::default(),
            env(&[("MCP_AUTHD_TOKENS__NOPE", "1")]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
