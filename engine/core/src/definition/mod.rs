//! The YAML definition language: the types an analyst writes, and loading them
//! from text with source locations.
//!
//! Owns: the serde + schemars model of process and calendar files
//! ([`ProcessDef`], [`CalendarDef`]), parsing with limits against hostile
//! documents ([`load`]), the grammar of durations ([`duration`]) and dates.
//!
//! Must not: resolve references between steps, judge the control flow, or
//! execute anything. Those belong to `model` and `validate`.
//!
//! Every reference an analyst writes (a step id, a role, a variable) is kept as
//! a [`Spanned`] string so that later stages can point at its line and column.

pub mod calendar;
pub mod duration;
mod load;
mod more;

pub use calendar::{parse_local_datetime, CalendarDef};
pub use load::{parse_any, parse_calendar, parse_process, Limits, SourceFile};

use schemars::JsonSchema;
use serde::Deserialize;

/// A string with the place where it was written.
pub type Spanned<T> = serde_saphyr::Spanned<T>;
/// A spanned string: ids, references, durations, expressions.
pub type SStr = Spanned<String>;

/// One process definition file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Ravand process definition")]
pub struct ProcessDef {
    /// Stable id of the process (شناسه), e.g. `building-permit`. Lowercase
    /// letters, digits and `-`.
    #[schemars(with = "String")]
    pub id: SStr,
    /// Version number (نسخه); a deployed (id, version) never changes.
    pub version: u32,
    /// Title (عنوان), in any language (Persian is the norm).
    pub title: String,
    /// English title (عنوان انگلیسی), for reports read abroad.
    #[serde(default)]
    pub title_en: Option<String>,
    /// What the process is for (توضیح).
    #[serde(default)]
    pub description: Option<String>,
    /// The working calendar (تقویم کاری: a file `calendars/<name>.yaml` beside the
    /// definition) used for working-time durations and deadlines.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub calendar: Option<SStr>,
    /// The roles (نقش‌ها: posts and units) that perform tasks.
    #[serde(default)]
    pub roles: Vec<RoleDef>,
    /// Case data (داده‌های پرونده): variables that conditions read and tasks show or set.
    #[serde(default)]
    pub data: Vec<VariableDef>,
    /// A deadline on the whole case (مهلت پرونده, e.g. the 15-day permit rule).
    #[serde(default)]
    pub deadline: Option<DeadlineDef>,
    /// Classified correspondence (مکاتبات طبقه‌بندی‌شده): every read of a
    /// case of this process by staff is recorded in the case's audit trail,
    /// with who and when.
    #[serde(default)]
    pub restricted: bool,
    /// The steps (گام‌ها). A step without `next` continues with the step below it.
    pub steps: Vec<StepDef>,
}

/// A role (post or unit) that performs tasks.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleDef {
    /// The role's id (شناسه نقش), named by `performer`.
    #[schemars(with = "String")]
    pub id: SStr,
    /// The post's title (عنوان سمت), e.g. کارشناس شهرسازی.
    pub title: String,
    /// English title.
    #[serde(default)]
    pub title_en: Option<String>,
    /// The unit the role belongs to (واحد).
    #[serde(default)]
    pub unit: Option<String>,
    /// The organisation above that unit (سازمان), for the dashboard's
    /// figures by organisation.
    #[serde(default)]
    pub organisation: Option<String>,
}

/// The type of a case variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum VarType {
    String,
    Number,
    Integer,
    Bool,
    /// A date (`2026-03-20` or Solar Hijri `1405-01-01`), or date and time.
    Date,
    /// One of a fixed list of `values`.
    Enum,
    /// A list (فهرست) of values, e.g. the bodies a permit's inquiries go to;
    /// a step with `each:` makes one instance per item.
    List,
}

/// A case variable.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableDef {
    /// Name used in conditions: letters, digits and `_`, not starting with a digit.
    #[schemars(with = "String")]
    pub name: SStr,
    #[serde(rename = "type")]
    pub ty: VarType,
    #[serde(default)]
    pub title: Option<String>,
    /// The allowed values of an `enum` variable.
    #[serde(default)]
    pub values: Vec<String>,
    /// Whether a case must be started with this variable set.
    #[serde(default)]
    pub required: bool,
    /// Whether cases can be found by this variable's value (`GET
    /// /cases?data=NAME:VALUE`), e.g. a district or a category.
    #[serde(default)]
    pub searchable: bool,
}

/// The kinds of step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StepKind {
    /// Start (آغاز): where a case begins; exactly one per process.
    Start,
    /// Task (کار): work done by a role (the default kind).
    #[default]
    Task,
    /// Exclusive decision (تصمیم، دروازهٔ انحصاری): the first branch whose condition holds, else `otherwise`.
    Decision,
    /// Inclusive decision (تصمیم چندگزینه‌ای): every branch whose condition holds, else `otherwise`.
    Inclusive,
    /// Inclusive join (پیوند چندگزینه‌ای): waits for the branches of an
    /// inclusive decision that can still arrive.
    InclusiveJoin,
    /// Parallel split (انشعاب موازی): every `next` at once.
    Parallel,
    /// Parallel join (همگام‌سازی): waits for every incoming branch, or with
    /// `needs` for that many of them.
    Join,
    /// Wait (انتظار): waits for time: a duration, a date, or a date from case data.
    Wait,
    /// Receive (دریافت پیام): waits for a message (e.g. "payment confirmed")
    /// matched by a correlation key.
    Receive,
    /// First-come choice (هر کدام زودتر): waits for several messages and
    /// timers at once (its `arms`); the first
    /// to come takes its way and withdraws the others (a deferred choice;
    /// BPMN's event-based gateway). E.g. the owner's defence, payment or
    /// objection, or the end of the legal window.
    First,
    /// Subprocess (فرایند فرعی): calls another process by id and waits for it
    /// to finish.
    Subprocess,
    /// End (پایان): ends this path of the case with an outcome.
    End,
    /// Terminate (خاتمهٔ پرونده): ends the whole case at once, cancelling any
    /// other open work.
    Terminate,
}

impl StepKind {
    /// The name an analyst writes.
    pub fn name(self) -> &'static str {
        match self {
            StepKind::Start => "start",
            StepKind::Task => "task",
            StepKind::Decision => "decision",
            StepKind::Inclusive => "inclusive",
            StepKind::InclusiveJoin => "inclusive-join",
            StepKind::Parallel => "parallel",
            StepKind::Join => "join",
            StepKind::Wait => "wait",
            StepKind::Receive => "receive",
            StepKind::First => "first",
            StepKind::Subprocess => "subprocess",
            StepKind::End => "end",
            StepKind::Terminate => "terminate",
        }
    }
}

/// How a task is performed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TaskMode {
    /// A person does it in the system (worklist, cartable).
    #[default]
    User,
    /// An automatic service call; completes without a person.
    Service,
    /// Done outside the system (on paper, on site) and recorded afterwards.
    Manual,
}

/// Lean value class of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ValueClass {
    ValueAdding,
    BusinessRequired,
    NonValueAdding,
}

impl ValueClass {
    /// The kind as written in YAML (`task`, `decision`, …).
    pub fn name(self) -> &'static str {
        match self {
            ValueClass::ValueAdding => "value-adding",
            ValueClass::BusinessRequired => "business-required",
            ValueClass::NonValueAdding => "non-value-adding",
        }
    }
}

/// Tags that measurement counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Tag {
    Approval,
    Signature,
    /// A site visit.
    Inspection,
    Payment,
    Notification,
    DataEntry,
    /// An inquiry to another body (utilities, heritage, traffic, …).
    Inquiry,
    /// The citizen must come in person.
    CitizenVisit,
    /// A taste-based approval: a "golden signature".
    Discretionary,
}

impl Tag {
    /// Every tag, in the order they are listed and counted.
    pub const ALL: [Tag; 9] = [
        Tag::Approval,
        Tag::Signature,
        Tag::Inspection,
        Tag::Payment,
        Tag::Notification,
        Tag::DataEntry,
        Tag::Inquiry,
        Tag::CitizenVisit,
        Tag::Discretionary,
    ];
    /// The tag as written in YAML.
    pub fn name(self) -> &'static str {
        match self {
            Tag::Approval => "approval",
            Tag::Signature => "signature",
            Tag::Inspection => "inspection",
            Tag::Payment => "payment",
            Tag::Notification => "notification",
            Tag::DataEntry => "data-entry",
            Tag::Inquiry => "inquiry",
            Tag::CitizenVisit => "citizen-visit",
            Tag::Discretionary => "discretionary",
        }
    }
    /// The tag written `name`, if any.
    pub fn from_name(name: &str) -> Option<Tag> {
        Tag::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Who a step waits on, for deadline clocks that pause while the case is
/// with the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WaitsOn {
    Citizen,
}

/// The `next` of a step: one step id, or several (parallel split).
#[derive(Debug)]
pub enum NextDef {
    One(SStr),
    Many(Vec<SStr>),
}

impl NextDef {
    /// The steps named, one or many.
    pub fn targets(&self) -> &[SStr] {
        match self {
            NextDef::One(s) => std::slice::from_ref(s),
            NextDef::Many(v) => v,
        }
    }
}

#[derive(JsonSchema)]
#[allow(dead_code)]
#[serde(untagged)]
enum NextSchema {
    One(String),
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for NextDef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A plain string takes the node's span; a list keeps one span per item.
        let spanned: Spanned<OneOrMany> = Deserialize::deserialize(d)?;
        Ok(match spanned.value {
            OneOrMany::One(s) => NextDef::One(Spanned::new(s, spanned.referenced, spanned.defined)),
            OneOrMany::Many(v) => NextDef::Many(v),
        })
    }
}

enum OneOrMany {
    One(String),
    Many(Vec<SStr>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a step id or a list of step ids")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OneOrMany::One(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = a.next_element::<SStr>()? {
                    out.push(s);
                }
                Ok(OneOrMany::Many(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One step of a process. Which fields apply depends on `kind`; the
/// validator reports a field that does not belong to the step's kind.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    /// Stable id, unique in the process: lowercase letters, digits and `-`.
    #[schemars(with = "String")]
    pub id: SStr,
    /// The kind of step; `task` when left out.
    #[serde(default)]
    pub kind: StepKind,
    /// Human title (Persian is the norm). Work steps need one; a start,
    /// gateway or end without it shows its id.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub title_en: Option<String>,
    #[serde(default)]
    pub description: Option<String>,

    /// The role that performs a task (انجام‌دهنده).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub performer: Option<SStr>,
    /// How a task is performed; `user` when left out.
    #[serde(default)]
    pub mode: Option<TaskMode>,
    /// Tags that measurement counts (برچسب‌ها: تأیید، امضا، پرداخت، بازدید، …).
    #[serde(default)]
    #[schemars(with = "Vec<Tag>")]
    pub tags: Vec<SStr>,
    /// Lean value class (ارزش گام).
    #[serde(default)]
    pub value: Option<ValueClass>,
    /// Case variables shown to the performer (نمایش).
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub shows: Vec<SStr>,
    /// Case variables the step sets (ثبت): a task on completion, a receive from the
    /// message, a subprocess from the called case's data of the same name.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub sets: Vec<SStr>,
    /// For automatic (`service`) tasks done by an outside program (the SMS
    /// sender, the deed registry's adapter, the GIS lookup): the topic its
    /// workers fetch jobs by (`POST /jobs/acquire`). The case waits at the
    /// step until a worker completes the job with what the step `sets`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub topic: Option<SStr>,
    /// For automatic (`service`) tasks: case data computed by rule, in order,
    /// e.g. `[{set: fee, to: "area * tariff"}]`.
    #[serde(default)]
    pub compute: Vec<ComputeDef>,
    /// How long the work takes (for a `receive`, how long until the message
    /// usually comes), for simulation.
    #[serde(default)]
    pub duration: Option<DistributionDef>,
    /// The deadline (مهلت انجام، SLA) of a task, with its escalation ladder
    /// (پلکان پیگیری).
    #[serde(default)]
    pub deadline: Option<DeadlineDef>,
    /// An interrupting timer (مهلت قانونی): when it fires first, the step is left by `next`
    /// of the timeout instead.
    #[serde(default)]
    pub timeout: Option<TimeoutDef>,
    /// Marks a step during which the case waits on the citizen; case deadlines
    /// with `pauses_for_citizen` stop their clock here.
    #[serde(default)]
    pub waits_on: Option<WaitsOn>,

    /// The following step (گام بعد), or for `parallel` the list of steps
    /// started at once.
    #[serde(default)]
    #[schemars(with = "Option<NextSchema>")]
    pub next: Option<NextDef>,
    /// Branches (شاخه‌ها) of a `decision` or `inclusive` step.
    #[serde(default)]
    pub branches: Vec<BranchDef>,
    /// Where a decision goes when no branch condition holds (در غیر این صورت).
    #[serde(default)]
    pub otherwise: Option<OtherwiseDef>,
    /// For `first`: the messages and timers it waits for at once, each with
    /// its way out; whichever comes first is taken.
    #[serde(default)]
    pub arms: Vec<ArmDef>,
    /// For `join`: how many of its incoming branches it waits for (a
    /// partial join, e.g. "when 3 of 5 bodies have answered"); the branches
    /// still under way when it goes on are withdrawn. Without it, all.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub needs: Option<Spanned<u32>>,

    /// For `wait`: what to wait for.
    #[serde(default)]
    pub wait: Option<WaitDef>,
    /// For `receive` (and a message `start`): the message name (پیام).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub message: Option<SStr>,
    /// For `receive`: an expression over case data giving the correlation key
    /// (کلید تطبیق), e.g. the file number.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub correlation: Option<SStr>,
    /// For `subprocess`: the id of the process to call (فرایند فراخوانده).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub process: Option<SStr>,
    /// For `end` and `terminate`: the outcome (نتیجه: issued, rejected,
    /// withdrawn, …).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub outcome: Option<SStr>,
    /// For `start`: a recurring schedule that starts cases by itself.
    #[serde(default)]
    pub schedule: Option<ScheduleDef>,
    /// For a person's task: multiple instances (چند نمونه), one task per
    /// item of a list or a number decided when the case gets here, all at
    /// once or one after the other, each with its own item and values; the
    /// step is done when all are (or when `until` holds, which withdraws the
    /// rest).
    #[serde(default)]
    pub each: Option<EachDef>,
}

/// Multiple instances of a task (چند نمونه): how many, in what order, and
/// where their values go.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EachDef {
    /// A `list` variable: one instance per item, e.g. `over: bodies`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub over: Option<SStr>,
    /// Instead of `over`: an expression over case data giving how many
    /// instances, e.g. `count: "inspectors"` or `count: "3"`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub count: Option<SStr>,
    /// With `over`: the variable each instance sees its item as (shown on its
    /// task), e.g. `as: body`. Declared like any variable, of the items' type.
    #[serde(default, rename = "as")]
    #[schemars(with = "Option<String>")]
    pub item: Option<SStr>,
    /// `parallel` (all at once, the default) or `sequential` (one after the
    /// other, in the list's order).
    #[serde(default)]
    pub order: Option<EachOrder>,
    /// A condition over case data read after each instance is done; when it
    /// holds, the step is done and the instances still open are withdrawn
    /// ("when 3 of 5 bodies have answered": `"answers.size() >= 3"`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub until: Option<SStr>,
    /// A `list` variable that gathers the instances' values: one map per
    /// instance done, in the order they were done, holding its item (under
    /// its `as` name) and what the step `sets`. It starts empty each time
    /// the step is entered. Required when the step `sets` anything.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub gather: Option<SStr>,
}

/// The order of multiple instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EachOrder {
    /// All at once (همزمان).
    #[default]
    Parallel,
    /// One after the other, in the list's order (پشت سر هم).
    Sequential,
}

/// One computation of a service task: a variable and a CEL expression.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComputeDef {
    #[schemars(with = "String")]
    pub set: SStr,
    #[schemars(with = "String")]
    pub to: SStr,
}

/// A branch of a decision.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BranchDef {
    /// A condition over case data, in CEL (Common Expression Language),
    /// e.g. `area > 500 && zone == "residential"`.
    #[schemars(with = "String")]
    pub when: SStr,
    #[schemars(with = "String")]
    pub next: SStr,
    /// The chance this branch is taken, used only by simulation.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub probability: Option<Spanned<f64>>,
}

/// The default way out of a decision.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OtherwiseDef {
    #[schemars(with = "String")]
    pub next: SStr,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub probability: Option<Spanned<f64>>,
}

/// One way out of a `first` step: a message, or a timer (`after` a
/// duration, or `until_data` a date of the case), and the step it leads to.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArmDef {
    /// The message whose arrival takes this way (matched by the step's
    /// `correlation`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub message: Option<SStr>,
    /// A timer: this long after the step is entered, e.g. `10 legal days`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub after: Option<SStr>,
    /// A timer: at the date held by this `date` variable of the case.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub until_data: Option<SStr>,
    /// Where the case goes when this comes first.
    #[schemars(with = "String")]
    pub next: SStr,
    /// The chance this way is taken, used by simulation and measurement.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub probability: Option<Spanned<f64>>,
}

/// What a `wait` step waits for: exactly one of the three.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitDef {
    /// A duration, e.g. `10 working days`, `1 month`, or a legal period
    /// (مهلت قانونی) `10 legal days`: the day of service not counted,
    /// holidays inside counted, to the end of the last day, moved to the
    /// next working day when the last is a holiday.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub duration: Option<SStr>,
    /// A fixed date or date-time (Gregorian `2026-03-20T09:00` or Solar Hijri
    /// `1405-01-15`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub until: Option<SStr>,
    /// The name of a `date` variable of the case.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub until_data: Option<SStr>,
}

/// An interrupting timer on a step.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeoutDef {
    /// How long after the step starts, e.g. `2 working days`, or a legal
    /// period (مهلت قانونی) such as `10 legal days` for a defence or an
    /// objection window.
    #[schemars(with = "String")]
    pub after: SStr,
    /// Where the case goes when the timer fires.
    #[schemars(with = "String")]
    pub next: SStr,
}

/// A deadline (SLA) and what happens when it is missed.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadlineDef {
    /// Due this long after the step (or case) starts, e.g. `3 working days`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub due: Option<SStr>,
    /// Due after a duration that depends on a case variable (e.g. the request
    /// category).
    #[serde(default)]
    pub due_by: Option<DueByDef>,
    /// Count from the completion of this earlier step instead of from the
    /// start of the step (or case) that has the deadline: "within one month
    /// of the meeting". A case deadline's clock starts when this step first
    /// completes ("15 days once the file is complete").
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub from: Option<SStr>,
    /// Whether the clock stops while the case waits on the citizen (steps
    /// marked `waits_on: citizen`). Suspending a case always stops it.
    #[serde(default)]
    pub pauses_for_citizen: bool,
    /// What happens once the deadline has passed, in order.
    #[serde(default)]
    pub escalation: Vec<EscalationDef>,
}

/// A due duration chosen by the value of a variable.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DueByDef {
    /// The variable (usually an `enum`).
    #[schemars(with = "String")]
    pub data: SStr,
    /// Due duration for each value.
    #[schemars(with = "Vec<DueCaseSchema>")]
    pub cases: Vec<DueCaseDef>,
    /// Due duration for any other value.
    #[schemars(with = "String")]
    pub otherwise: SStr,
}

/// One case of a deadline due by a variable's value: when it has `value`, the deadline is `after`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DueCaseDef {
    pub value: SStr,
    pub due: SStr,
}

#[derive(JsonSchema)]
#[allow(dead_code)]
struct DueCaseSchema {
    value: String,
    due: String,
}

/// What an escalation rung does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EscalationAction {
    /// Record a reminder (تذکر) to the performer.
    Remind,
    /// A formal warning (اخطار) to the performer.
    Warn,
    /// Record the delay in the performer's personnel file (درج در پرونده).
    Record,
    /// Take the task away and give it to `to` (واگذاری به دیگری).
    Reassign,
    /// Notify a named role (اطلاع، e.g. the mayor's office).
    Notify,
}

impl EscalationAction {
    /// Every action, in ladder order.
    pub const ALL: [EscalationAction; 5] = [Self::Remind, Self::Warn, Self::Record, Self::Reassign, Self::Notify];

    /// Its one spelling, as YAML, the API and the stored rows write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Remind => "remind",
            Self::Warn => "warn",
            Self::Record => "record",
            Self::Reassign => "reassign",
            Self::Notify => "notify",
        }
    }
}

/// One rung of an escalation ladder.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationDef {
    /// How long past the due instant; `0` means at the due instant.
    #[schemars(schema_with = "duration_or_zero")]
    pub after: SStr,
    /// What is done (اقدام) at this rung of the ladder.
    pub action: EscalationAction,
    /// Repeat this rung every so often while the task stays open.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub every: Option<SStr>,
    /// With `every`: at most this many times.
    #[serde(default)]
    pub times: Option<u32>,
    /// The role told, or given the task (`reassign`, `notify`, `warn`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub to: Option<SStr>,
}

/// A recurring schedule on a `start` step: exactly one of `cron` and `repeat`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDef {
    /// A cron expression with seconds: `sec min hour day-of-month month
    /// day-of-week [year]`, in the calendar's time zone.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub cron: Option<SStr>,
    /// An ISO-8601 repeating interval, e.g. `R/2026-01-06T19:00/P14D`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub repeat: Option<SStr>,
}

/// A duration distribution for simulation. The unit words say whether it is
/// working time (`3 working days`) or calendar time (`3 days`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum DistributionDef {
    #[schemars(with = "String")]
    Fixed(SStr),
    Uniform {
        #[schemars(with = "String")]
        min: SStr,
        #[schemars(with = "String")]
        max: SStr,
    },
    Triangular {
        #[schemars(with = "String")]
        min: SStr,
        #[schemars(with = "String")]
        mode: SStr,
        #[schemars(with = "String")]
        max: SStr,
    },
    Normal {
        #[schemars(with = "String")]
        mean: SStr,
        #[schemars(with = "String")]
        sd: SStr,
    },
    Lognormal {
        #[schemars(with = "String")]
        mean: SStr,
        #[schemars(with = "String")]
        sd: SStr,
    },
    Exponential {
        #[schemars(with = "String")]
        mean: SStr,
    },
}

impl DistributionDef {
    /// The duration strings of the distribution, with their parameter names.
    pub fn params(&self) -> Vec<(&'static str, &SStr)> {
        match self {
            DistributionDef::Fixed(v) => vec![("fixed", v)],
            DistributionDef::Uniform { min, max } => vec![("min", min), ("max", max)],
            DistributionDef::Triangular { min, mode, max } => {
                vec![("min", min), ("mode", mode), ("max", max)]
            }
            DistributionDef::Normal { mean, sd } | DistributionDef::Lognormal { mean, sd } => {
                vec![("mean", mean), ("sd", sd)]
            }
            DistributionDef::Exponential { mean } => vec![("mean", mean)],
        }
    }
}

/// The JSON Schema of process files, generated from the types above.
pub fn process_schema() -> serde_json::Value {
    for_editors(serde_json::to_value(schemars::schema_for!(ProcessDef)).unwrap_or_default())
}

/// A duration, or the number `0` (at once), as YAML writes both.
fn duration_or_zero(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "anyOf": [
            {"type": "string"},
            {"const": 0},
        ]
    })
}

/// A generated schema as editors and strict validators take it. Ravand
/// reads an absent field and `null` alike, but a schema that says `null`
/// makes yaml-language-server offer `null` as a value and as a snippet's
/// placeholder (and its `"default": null` breaks its completion), so every
/// `null` alternative goes; and the integer formats Rust's types give
/// (`uint32`, …) are not JSON Schema formats (Ajv's strict mode refuses
/// them), so they go too, their `minimum` kept.
pub fn for_editors(mut schema: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    fn is_null(v: &Value) -> bool {
        v.get("type").and_then(Value::as_str) == Some("null") || v.get("const").is_some_and(Value::is_null)
    }
    fn walk(v: &mut Value) {
        match v {
            Value::Object(o) => {
                if o.get("default").is_some_and(Value::is_null) {
                    o.remove("default");
                }
                if let Some(Value::Array(types)) = o.get_mut("type") {
                    types.retain(|t| t.as_str() != Some("null"));
                    if types.len() == 1 {
                        let only = types.remove(0);
                        o.insert("type".into(), only);
                    }
                }
                if let Some(Value::Array(values)) = o.get_mut("enum") {
                    values.retain(|x| !x.is_null());
                }
                if o.get("format")
                    .and_then(Value::as_str)
                    .is_some_and(|f| f.starts_with("uint") || matches!(f, "int8" | "int16"))
                {
                    o.remove("format");
                }
                for key in ["anyOf", "oneOf"] {
                    let Some(Value::Array(alts)) = o.get_mut(key) else {
                        continue;
                    };
                    alts.retain(|a| !is_null(a));
                    if alts.len() == 1 {
                        // One alternative left: it is the schema itself.
                        if let Some(Value::Object(only)) = alts.pop() {
                            o.remove(key);
                            for (k, x) in only {
                                o.entry(k).or_insert(x);
                            }
                        }
                    }
                }
                o.values_mut().for_each(walk);
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut schema);
    schema
}

/// The JSON Schema of calendar files.
pub fn calendar_schema() -> serde_json::Value {
    for_editors(serde_json::to_value(schemars::schema_for!(CalendarDef)).unwrap_or_default())
}
