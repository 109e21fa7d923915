//! What goes into the scheduler core ([`Input`]: events from the master,
//! the API, the clock and the workers' reports) and what comes out
//! ([`Effect`]: the I/O the workers do). Plain data: the core never sees a
//! connection, and its tests compare these values.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use mesos_proto::v1::{AgentId, FrameworkId, Offer, OfferId, TaskId, TaskStatus};
use ovn::ports::TaskPort;
use ovn::services::ServiceSpec;
use tokio::sync::oneshot;

use crate::api::{ApiEvent, KillRefused};
use crate::launch::LaunchResources;
use crate::state::{DeploymentRecord, TaskRecord};
use crate::tasks::{Member, TemplateId};

/// Where the answer to an operator's kill goes.
pub type KillReply = oneshot::Sender<Result<(), KillRefused>>;

/// Something that happened, for the core to act on.
// Updates, the most frequent input, are the largest: boxing them would
// cost an allocation per update for no gain (inputs are not stored).
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Input {
    /// A subscription to the master is up, as this framework.
    Subscribed { framework_id: FrameworkId },
    /// The subscription ended (the master or the stream failed).
    Disconnected,
    /// The master removed the framework: its tasks are gone.
    FrameworkRemoved,
    /// An OFFERS event.
    Offers(Vec<Offer>),
    /// An UPDATE event.
    Update(TaskStatus),
    /// The launcher made (or failed to make) the ports of one offer's
    /// tasks; the ACCEPT of those made goes out next.
    Provisioned(Provisioned),
    /// The master refused an ACCEPT: (template, task, port) of its tasks.
    AcceptFailed(Vec<(TemplateId, TaskId, String)>),
    /// A KILL the core asked for could not be sent.
    KillFailed(TaskId),
    /// A REVIVE or SUPPRESS could not be sent.
    CallFailed(OfferCall),
    /// The launcher sent (or gave up) an offer batch's ACCEPTs and its
    /// DECLINE, which set their filter of `refuse` seconds at the master.
    /// The batch was made at `issued` (the core's clock).
    OffersAnswered { issued: Instant, refuse: f64 },
    /// The operator asks for a task to be killed (`DELETE /v1/tasks/{id}`).
    Kill { task_id: String, reply: KillReply },
    /// The definitions in force changed (written to the state dir
    /// already): the services they make and the deployments under way.
    Definitions {
        services: crate::tasks::Services,
        deployments: BTreeMap<TemplateId, DeploymentRecord>,
    },
    /// The VIP writer found a service's addresses (gateway VIPs, cluster
    /// IP, names) new or changed in the NB, or a service's load balancer
    /// gone.
    VipsWritten {
        changed: Vec<ServiceAddresses>,
        removed: Vec<ovn::services::ServiceKey>,
    },
    /// The VIP writer wrote these services' port groups and policies.
    GroupsWritten(Vec<ovn::services::ServiceKey>),
    /// A timer may be due.
    Tick,
}

/// Where a service is reached, as its load balancer in the NB says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAddresses {
    pub key: ovn::services::ServiceKey,
    /// One per gateway router: `<physical IP>:<port>`.
    pub vips: Vec<std::net::SocketAddrV4>,
    /// `<cluster IP>:<port>` on the tenant's switches.
    pub east_west: Option<std::net::SocketAddrV4>,
    /// Its names in the tenant's DNS row.
    pub names: Vec<String>,
}

impl ServiceAddresses {
    /// The addresses of a service read from the NB.
    pub fn of(info: &ovn::services::ServiceInfo) -> ServiceAddresses {
        ServiceAddresses {
            key: info.key(),
            vips: info.vips.iter().map(|v| v.vip).collect(),
            east_west: info.east_west.as_ref().map(|e| e.vip),
            names: info
                .east_west
                .as_ref()
                .map(|e| e.names.clone())
                .unwrap_or_default(),
        }
    }
}

/// REVIVE or SUPPRESS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferCall {
    Revive,
    Suppress,
}

/// The launcher's report on one offer.
#[derive(Debug)]
pub struct Provisioned {
    /// When the OFFERS event came (the backoff of a failure counts from it).
    pub received: Instant,
    pub agent_id: AgentId,
    pub hostname: String,
    /// Tasks whose port exists: they are launched.
    pub made: Vec<(TemplateId, TaskPort)>,
    /// Tasks whose port could not be made: not launched.
    pub failed: Vec<(TemplateId, TaskId)>,
}

/// One instance placed on an offer.
#[derive(Debug, Clone)]
pub struct PlannedTask {
    pub task_id: TaskId,
    pub template: TemplateId,
    pub member: Arc<Member>,
    pub resources: LaunchResources,
}

/// One offer's launches: make the tasks' ports in one transaction, then
/// ACCEPT the offer with their LAUNCH.
#[derive(Debug, Clone)]
pub struct LaunchOrder {
    pub offer_id: OfferId,
    pub agent_id: AgentId,
    pub hostname: String,
    /// The agent's OVN chassis (`requested-chassis` of the ports).
    pub chassis: String,
    pub tasks: Vec<PlannedTask>,
    /// The ACCEPT's filter for what the tasks leave of the offer.
    pub refuse: f64,
    pub received: Instant,
}

/// What an OFFERS event comes to: launches, in order, then a DECLINE of
/// the offers no launch uses once the launches' ACCEPTs are answered.
#[derive(Debug, Clone)]
pub struct OfferBatch {
    pub launches: Vec<LaunchOrder>,
    pub decline: Vec<OfferId>,
    pub refuse: f64,
    /// When the core made it.
    pub issued: Instant,
}

/// KILL, REVIVE, SUPPRESS or RECONCILE: sent in order, failures
/// reported back.
#[derive(Debug)]
pub enum MasterCall {
    /// KILL a task; an operator's request carries its reply.
    Kill {
        task: TaskId,
        agent: Option<AgentId>,
        reply: Option<KillReply>,
    },
    Revive,
    Suppress,
    /// RECONCILE these tasks (all of them, implicitly, when empty).
    Reconcile(Vec<(TaskId, Option<AgentId>)>),
}

/// I/O the core asks for. The driver hands each to its worker.
#[derive(Debug)]
pub enum Effect {
    /// Launch on offers and decline the rest (the launcher).
    Offers(OfferBatch),
    /// A call to the master that answers nothing the core waits for.
    Call(MasterCall),
    /// ACKNOWLEDGE a handled update.
    Acknowledge(TaskStatus),
    /// Delete a task's logical switch port.
    DeletePort(String),
    /// Delete the port of a task the book does not know, if this
    /// framework owns it.
    DeleteStrayPort {
        port: String,
        framework: FrameworkId,
    },
    /// Write a task's record to the state dir.
    WriteRecord(TaskRecord),
    RemoveRecord(TaskId),
    /// Forget the framework id (the next subscription registers anew).
    ForgetFramework,
    /// Write the services whose backends changed.
    SyncVips(Vec<ServiceSpec>),
    /// Hand the VIP writer every service's port group (written in its
    /// next pass, before the load balancers).
    SyncGroups(Vec<ovn::policy::PortGroupSpec>),
    /// A full pass over every service load balancer.
    ResyncVips(Vec<ServiceSpec>),
    /// Publish the API's view, with these desired load balancers.
    Publish(Vec<ServiceSpec>),
    /// Publish an event on `GET /v1/events`.
    Event(ApiEvent),
    /// A deployment is done: forget it in the state dir.
    DeploymentDone {
        template: TemplateId,
        id: String,
    },
}
