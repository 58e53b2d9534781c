//! Who asks, and what they may touch: checked by the engine inside the unit
//! of work that the request runs in, against the case as it is locked there.

use std::collections::BTreeSet;

/// The party behind a request: who (recorded in history) and what they may
/// touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The person or system acting, recorded in history; `None` for the
    /// engine itself.
    pub user: Option<String>,
    /// What it may do.
    pub grants: Grants,
    /// Whether reads are recorded in the audit trail of restricted cases
    /// (staff reads are; the engine's own and an embedder's are not).
    pub staff: bool,
}

/// What an actor may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grants {
    /// Everything (an administrator, the engine itself, an embedder).
    All,
    /// Reading every case, and nothing else (an auditor).
    ReadAll,
    /// Only what is listed.
    Scoped(Scope),
}

/// Processes and roles granted to a member of staff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Processes whose cases the actor may start, read and send messages to.
    pub processes: BTreeSet<String>,
    /// Roles, each `process/role`, whose tasks the actor may claim and
    /// complete; `process/*` grants every role of the process and the tasks
    /// that have no performer. A role also lets the actor read the cases of
    /// its process.
    pub roles: BTreeSet<String>,
}

impl Actor {
    /// The engine itself, or an embedder acting with full rights as `by`.
    pub fn system(by: Option<String>) -> Actor {
        Actor {
            user: by,
            grants: Grants::All,
            staff: false,
        }
    }

    /// Whether the actor may read the cases of `process`.
    pub fn may_read(&self, process: &str) -> bool {
        match &self.grants {
            Grants::All | Grants::ReadAll => true,
            Grants::Scoped(s) => {
                s.processes.contains(process)
                    || s.roles
                        .iter()
                        .any(|r| r.split_once('/').is_some_and(|(p, _)| p == process))
            }
        }
    }

    /// Whether the actor may start cases of `process` and send messages to them.
    pub fn may_start(&self, process: &str) -> bool {
        match &self.grants {
            Grants::All => true,
            Grants::ReadAll => false,
            Grants::Scoped(s) => s.processes.contains(process),
        }
    }

    /// Whether the actor may work a task of `process` on `role`'s list
    /// (`None`: a task without a performer).
    pub fn may_work(&self, process: &str, role: Option<&str>) -> bool {
        match &self.grants {
            Grants::All => true,
            Grants::ReadAll => false,
            Grants::Scoped(s) => {
                s.roles.contains(&format!("{process}/*"))
                    || role.is_some_and(|r| s.roles.contains(&format!("{process}/{r}")))
            }
        }
    }

    /// Whether the actor may suspend, resume, cancel and repair cases.
    pub fn may_manage(&self) -> bool {
        self.grants == Grants::All
    }

    /// The processes the actor is limited to for starting and messaging, or
    /// `None` when not limited.
    pub fn start_processes(&self) -> Option<Vec<String>> {
        match &self.grants {
            Grants::All => None,
            Grants::ReadAll => Some(Vec::new()),
            Grants::Scoped(s) => Some(s.processes.iter().cloned().collect()),
        }
    }

    /// The processes whose cases the actor may read, or `None` for all.
    pub fn read_processes(&self) -> Option<Vec<String>> {
        match &self.grants {
            Grants::All | Grants::ReadAll => None,
            Grants::Scoped(s) => {
                let mut v: BTreeSet<String> = s.processes.clone();
                v.extend(
                    s.roles
                        .iter()
                        .filter_map(|r| r.split_once('/').map(|(p, _)| p.to_owned())),
                );
                Some(v.into_iter().collect())
            }
        }
    }
}
