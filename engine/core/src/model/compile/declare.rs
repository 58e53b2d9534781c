//! Declarations: the roles, variables and step ids a definition names, each
//! checked for its shape and declared once.

use std::collections::HashMap;

use super::{valid_id, valid_var, Compiler, RESERVED};
use crate::definition::{ProcessDef, SStr};
use crate::diagnostic::{Diagnostic, Place};
use crate::model::{Role, RoleIx, StepIx, VarIx, VarType, Variable};

/// How a second declaration of one id is reported.
struct Twice {
    /// "role `x` is declared twice", from the id.
    message: fn(&str) -> String,
    /// What the first place is called.
    first: &'static str,
    help: &'static str,
}

impl Compiler {
    /// Notes where `id` is first declared; a second declaration is a
    /// `duplicate-id` error pointing at the first. Whether `id` was new.
    fn first_declaration<'d>(&mut self, seen: &mut HashMap<&'d str, Place>, id: &'d SStr, twice: &Twice) -> bool {
        if let Some(first) = seen.get(id.value.as_str()) {
            self.diags.push(
                Diagnostic::error("duplicate-id", Place::of(id), (twice.message)(&id.value))
                    .related(first.clone(), twice.first)
                    .help(twice.help),
            );
            return false;
        }
        seen.insert(&id.value, Place::of(id));
        true
    }

    /// The roles, in order, and their indices by id.
    pub(super) fn roles<'d>(&mut self, def: &'d ProcessDef) -> (Vec<Role>, HashMap<&'d str, RoleIx>) {
        const TWICE: Twice = Twice {
            message: |id| format!("role `{id}` is declared twice"),
            first: "first declared here",
            help: "give each role its own id, or remove one",
        };
        let mut roles = Vec::new();
        let mut ix: HashMap<&str, RoleIx> = HashMap::new();
        let mut seen = HashMap::new();
        // Each unit's organisation, as its first role with one says.
        let mut orgs: HashMap<&str, (&str, Place)> = HashMap::new();
        for r in &def.roles {
            if let (Some(unit), Some(org)) = (&r.unit, &r.organisation) {
                match orgs.get(unit.as_str()) {
                    Some((first, place)) if first != org => {
                        let place = place.clone();
                        self.diags.push(
                            Diagnostic::warning(
                                "unit-organisation",
                                Place::of(&r.id),
                                format!("unit `{unit}` is put in organisation `{org}` here and in `{first}` before"),
                            )
                            .related(place, "its first organisation")
                            .help("a unit belongs to one organisation: give its roles the same `organisation`"),
                        );
                    }
                    Some(_) => {}
                    None => {
                        orgs.insert(unit, (org, Place::of(&r.id)));
                    }
                }
            }
            if !valid_id(&r.id.value) {
                self.err(
                    "bad-id",
                    Place::of(&r.id),
                    format!("`{}` is not a valid role id", r.id.value),
                    "use lowercase Latin letters, digits and `-`; the Persian name goes in `title`",
                );
            }
            if !self.first_declaration(&mut seen, &r.id, &TWICE) {
                continue;
            }
            ix.insert(&r.id.value, RoleIx(roles.len() as u32));
            roles.push(Role {
                id: r.id.value.clone(),
                title: r.title.clone(),
                unit: r.unit.clone(),
                organisation: r.organisation.clone(),
            });
        }
        (roles, ix)
    }

    /// The case variables, in order, and their indices by name.
    pub(super) fn variables<'d>(&mut self, def: &'d ProcessDef) -> (Vec<Variable>, HashMap<&'d str, VarIx>) {
        const TWICE: Twice = Twice {
            message: |name| format!("variable `{name}` is declared twice"),
            first: "first declared here",
            help: "give each variable its own name, or remove one",
        };
        let mut variables = Vec::new();
        let mut ix: HashMap<&str, VarIx> = HashMap::new();
        let mut seen = HashMap::new();
        for v in &def.data {
            let name = v.name.value.as_str();
            if !valid_var(name) || RESERVED.contains(&name) {
                self.err(
                    "bad-variable",
                    Place::of(&v.name),
                    format!("`{name}` cannot name a variable"),
                    "use Latin letters, digits and `_`, starting with a letter, e.g. `area_m2`; not a CEL keyword",
                );
            }
            if !self.first_declaration(&mut seen, &v.name, &TWICE) {
                continue;
            }
            if v.ty == VarType::Enum && v.values.is_empty() {
                self.err(
                    "bad-variable",
                    Place::of(&v.name),
                    format!("enum variable `{name}` has no `values`"),
                    "list its values, e.g. `values: [roads, waste, lighting]`",
                );
            }
            if v.ty != VarType::Enum && !v.values.is_empty() {
                self.err(
                    "bad-variable",
                    Place::of(&v.name),
                    format!("`values` is only for `enum` variables, and `{name}` is not one"),
                    "write `type: enum`, or remove `values`",
                );
            }
            ix.insert(name, VarIx(variables.len() as u32));
            variables.push(Variable {
                name: name.to_owned(),
                ty: v.ty,
                title: v.title.clone(),
                values: v.values.clone(),
                required: v.required,
                searchable: v.searchable,
            });
        }
        (variables, ix)
    }

    /// Every step's index by id, declared before any step is compiled so that
    /// references resolve in any order.
    pub(super) fn step_ids(&mut self, def: &ProcessDef) -> HashMap<String, StepIx> {
        const TWICE: Twice = Twice {
            message: |id| format!("step id `{id}` is used twice"),
            first: "first used here",
            help: "each step needs its own id; rename one of them",
        };
        let mut by_id: HashMap<String, StepIx> = HashMap::new();
        let mut seen = HashMap::new();
        for (i, s) in def.steps.iter().enumerate() {
            let id = s.id.value.as_str();
            if !valid_id(id) {
                self.err(
                    "bad-id",
                    Place::of(&s.id),
                    format!("`{id}` is not a valid step id"),
                    "use lowercase Latin letters, digits and `-`, e.g. `site-visit`; the Persian name goes in `title`",
                );
            }
            if self.first_declaration(&mut seen, &s.id, &TWICE) {
                by_id.insert(id.to_owned(), StepIx(i as u32));
            }
        }
        by_id
    }
}
