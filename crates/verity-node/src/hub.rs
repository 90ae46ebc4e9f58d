//! The model hub: a publisher's metadata (name, description, task, license, tags), the
//! versions of a named model, and search and filters on `GET /v1/models` (docs/node.md,
//! "Model hub").
//!
//! Metadata lives in the model's row of the `models` table (`ModelMeta::hub`; rows written
//! before it existed decode with none). The versions of a name are the table
//! `model_names`: name → the model ids published under it, 32 bytes each, in version
//! order. Both are written in the one transaction that registers the model, so a crash
//! leaves either the model with its version or neither.

use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::Deserialize;
use verity_exec::api::{ModelHub, PublishRequest};

use crate::error::{ApiError, ApiResult};
use crate::store::ModelMeta;

const MODEL_NAMES: TableDefinition<&str, &[u8]> = TableDefinition::new("model_names");

pub const MAX_NAME: usize = 64;
pub const MAX_DESCRIPTION: usize = 2000;
pub const MAX_FIELD: usize = 64;
pub const MAX_TAGS: usize = 16;
pub const MAX_TAG: usize = 32;
/// Versions one name may have (a row holds 32 bytes per version).
pub const MAX_VERSIONS: usize = 10_000;

pub fn create_tables(w: &WriteTransaction) -> anyhow::Result<()> {
    w.open_table(MODEL_NAMES)?;
    Ok(())
}

/// Appends `id` to the versions of `name` and returns its version number (from 1).
pub fn add_version(w: &WriteTransaction, name: &str, id: &[u8; 32]) -> anyhow::Result<u32> {
    let mut t = w.open_table(MODEL_NAMES)?;
    let mut ids = t.get(name)?.map(|v| v.value().to_vec()).unwrap_or_default();
    anyhow::ensure!(ids.len() % 32 == 0, "corrupted model_names row for {name:?}");
    anyhow::ensure!(ids.len() / 32 < MAX_VERSIONS, "model name {name:?} has {MAX_VERSIONS} versions already");
    ids.extend_from_slice(id);
    t.insert(name, ids.as_slice())?;
    Ok((ids.len() / 32) as u32)
}

fn bad(field: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("`{field}` {msg}"))
}

/// Printable text without control characters, of at most `max` characters.
fn text(field: &str, value: &str, max: usize) -> ApiResult<String> {
    let n = value.chars().count();
    if n > max {
        return Err(bad(field, format!("is {n} characters long, at most {max} are allowed")));
    }
    if value.chars().any(char::is_control) {
        return Err(bad(field, "holds a control character"));
    }
    Ok(value.to_string())
}

/// A word: 1..=`max` ASCII letters, digits and `-_./`, not starting with a punctuation mark.
fn word(field: &str, value: &str, max: usize) -> ApiResult<String> {
    if value.is_empty() || value.len() > max {
        return Err(bad(field, format!("must be 1 to {max} characters long, got {}", value.len())));
    }
    let ok =
        value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b)) && value.as_bytes()[0].is_ascii_alphanumeric();
    if !ok {
        return Err(bad(field, format!("{value:?} may hold only letters, digits and - _ . / (starting with a letter or digit)")));
    }
    Ok(value.to_string())
}

/// The request's metadata, validated (lengths and counts bounded, 400 naming the field);
/// `version` is assigned when the model is stored.
pub fn from_request(req: &PublishRequest) -> ApiResult<Option<ModelHub>> {
    let Some(name) = &req.name else {
        for (field, given) in [
            ("description", req.description.is_some()),
            ("task", req.task.is_some()),
            ("license", req.license.is_some()),
            ("tags", !req.tags.is_empty()),
        ] {
            if given {
                return Err(bad(field, "needs `name`: metadata belongs to a named model"));
            }
        }
        return Ok(None);
    };
    if req.tags.len() > MAX_TAGS {
        return Err(bad("tags", format!("has {} entries, at most {MAX_TAGS} are allowed", req.tags.len())));
    }
    let mut tags = Vec::with_capacity(req.tags.len());
    for t in &req.tags {
        let t = word("tags", t, MAX_TAG)?.to_ascii_lowercase();
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    Ok(Some(ModelHub {
        name: word("name", name, MAX_NAME)?,
        version: 0,
        description: text("description", req.description.as_deref().unwrap_or(""), MAX_DESCRIPTION)?,
        task: req.task.as_deref().map(|t| word("task", t, MAX_FIELD)).transpose()?.unwrap_or_default(),
        license: text("license", req.license.as_deref().unwrap_or(""), MAX_FIELD)?,
        tags,
    }))
}

/// Publishing a model that is already stored changes nothing; asking for other metadata
/// than it was published with is a 409 rather than a silent no-op.
pub fn check_republish(id_hex: &str, stored: &ModelMeta, asked: &Option<ModelHub>) -> ApiResult<()> {
    let Some(asked) = asked else { return Ok(()) };
    let same = stored.hub.as_ref().is_some_and(|h| ModelHub { version: 0, ..h.clone() } == *asked);
    if same {
        return Ok(());
    }
    let now = match &stored.hub {
        Some(h) => format!("as {} version {}", h.name, h.version),
        None => "without a name".to_string(),
    };
    Err(ApiError::new(
        axum::http::StatusCode::CONFLICT,
        format!("model {id_hex} is already published {now}; its metadata is fixed when it is first published"),
    ))
}

/// The search and filters of `GET /v1/models`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsQuery {
    pub after: Option<String>,
    pub limit: Option<usize>,
    /// Case-insensitive text in the name, description, task or tags.
    pub q: Option<String>,
    pub name: Option<String>,
    pub task: Option<String>,
    pub tag: Option<String>,
}

impl ModelsQuery {
    pub fn filtered(&self) -> bool {
        self.q.is_some() || self.name.is_some() || self.task.is_some() || self.tag.is_some()
    }

    /// Whether a model matches every filter given (a model without metadata matches none).
    pub fn matches(&self, meta: &ModelMeta) -> bool {
        if !self.filtered() {
            return true;
        }
        let Some(h) = &meta.hub else { return false };
        let eq = |want: &Option<String>, got: &str| want.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(got));
        let tag = self.tag.as_deref().is_none_or(|t| h.tags.iter().any(|x| x.eq_ignore_ascii_case(t)));
        let q = self.q.as_deref().is_none_or(|q| {
            let q = q.to_lowercase();
            [&h.name, &h.description, &h.task].iter().any(|f| f.to_lowercase().contains(&q))
                || h.tags.iter().any(|t| t.contains(&q))
        });
        eq(&self.name, &h.name) && eq(&self.task, &h.task) && tag && q
    }
}

/// Adds a named model's metadata to `GET /v1/models/{id}`'s object.
pub fn describe(obj: &mut serde_json::Map<String, serde_json::Value>, meta: &ModelMeta) {
    if let Some(h) = &meta.hub {
        if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(h) {
            obj.extend(fields);
        }
    }
}
