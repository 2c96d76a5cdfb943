//! What every backend refuses, and with the same words: the checks a change
//! makes against what is stored, as pure functions over the records a
//! backend has read inside the change's transaction.

use crate::{RegistryError, Result, Role, Slot, VersionRef};

/// The slot named `slot`, or not found (naming the slots there are).
pub fn find_slot<'a>(slots: &'a [Slot], slot: &str) -> Result<&'a Slot> {
    slots.iter().find(|s| s.slot == slot).ok_or_else(|| {
        RegistryError::NotFound(format!(
            "no slot {slot:?} in the pipeline (slots: {:?})",
            slots.iter().map(|s| s.slot.as_str()).collect::<Vec<_>>()
        ))
    })
}

/// A pipeline's slots: identifiers, each once, at most 16.
pub fn check_slots(slots: &[String]) -> Result<()> {
    for (i, slot) in slots.iter().enumerate() {
        crate::check_id("slot", slot)?;
        if slots[..i].contains(slot) {
            return Err(RegistryError::Invalid(format!("slot {slot:?} is listed twice")));
        }
    }
    if slots.len() > 16 {
        return Err(RegistryError::Invalid(format!(
            "{} slots; a pipeline has at most 16",
            slots.len()
        )));
    }
    Ok(())
}

/// Whether `name` `version` may be attached to `slot` as `role` for
/// `percent` of customers: a share in (0, 100], and another version of
/// the plugin the slot runs.
pub fn check_attach(slots: &[Slot], slot: &str, role: Role, name: &str, version: &str, percent: f64) -> Result<()> {
    if !(percent > 0.0 && percent <= 100.0) {
        return Err(RegistryError::Invalid(format!(
            "the share is {percent} %, expected more than 0 and at most 100"
        )));
    }
    let state = find_slot(slots, slot)?;
    let Some(active) = &state.active else {
        return Err(RegistryError::Conflict(format!(
            "slot {slot:?} runs nothing yet: activate a version before attaching a {}",
            role.as_str()
        )));
    };
    if active.name == name && active.version == version {
        return Err(RegistryError::Conflict(format!(
            "{name} {version} is what slot {slot:?} runs: a {} is another version",
            role.as_str()
        )));
    }
    if active.name != name {
        return Err(RegistryError::Conflict(format!(
            "slot {slot:?} runs {}: a {} there is another version of it, not {name}",
            active.name,
            role.as_str()
        )));
    }
    Ok(())
}

/// Whether `name` `version` may be deleted: no slot runs it and it is
/// nobody's candidate (`attached`: its role and slot, if it is one).
pub fn check_delete(slots: &[Slot], attached: Option<(String, String)>, name: &str, version: &str) -> Result<()> {
    if let Some(slot) = slots.iter().find(|s| {
        s.active
            .as_ref()
            .is_some_and(|a| a.name == name && a.version == version)
    }) {
        return Err(RegistryError::Conflict(format!(
            "{name} {version} is active in slot {:?}; activate another version first",
            slot.slot
        )));
    }
    if let Some((role, slot)) = attached {
        return Err(RegistryError::Conflict(format!(
            "{name} {version} is the {role} of slot {slot:?}; detach it first"
        )));
    }
    Ok(())
}

/// What a rollback of `slot` goes from and to.
pub fn check_rollback<'a>(slots: &'a [Slot], slot: &str) -> Result<(&'a VersionRef, &'a VersionRef)> {
    let Some(state) = slots.iter().find(|s| s.slot == slot) else {
        return Err(RegistryError::NotFound(format!("no slot {slot:?} in the pipeline")));
    };
    match (&state.active, &state.previous) {
        (Some(active), Some(previous)) => Ok((active, previous)),
        _ => Err(RegistryError::Conflict(format!(
            "slot {slot:?} has no previous version to roll back to"
        ))),
    }
}

/// The refusal of other bytes under an existing name and version.
pub fn immutable(name: &str, version: &str, stored_sha256: &str) -> RegistryError {
    RegistryError::Conflict(format!(
        "{name} {version} already exists with other bytes (sha256 {stored_sha256}); versions are immutable, upload a \
         new version"
    ))
}

/// The refusal of a profile set past the tenant's count.
pub fn too_many_sets(tenant_id: &str, count: u64) -> RegistryError {
    RegistryError::Conflict(format!(
        "tenant {tenant_id:?} already has {count} profile sets, the most it may keep (profile_sets_max_per_tenant): \
         delete one first"
    ))
}

/// The refusal of a profile set that is not there.
pub fn no_set(tenant_id: &str, name: &str) -> RegistryError {
    RegistryError::NotFound(format!("tenant {tenant_id:?} has no profile set {name:?}"))
}

/// An audit cursor (`after`), as an audit id.
pub fn audit_cursor(after: Option<&str>) -> Result<i64> {
    match after {
        Some(a) => a
            .parse()
            .map_err(|_| RegistryError::Invalid(format!("cursor {a:?} is not an audit id"))),
        None => Ok(0),
    }
}

/// A versions cursor (`name@version`), as its two parts.
pub fn version_cursor(after: Option<&str>) -> (String, String) {
    match after.and_then(|a| a.split_once('@')) {
        Some((n, v)) => (n.to_owned(), v.to_owned()),
        None => (String::new(), String::new()),
    }
}
