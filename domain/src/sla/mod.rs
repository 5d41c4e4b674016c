//! Response SLAs: policies (targets, business hours), business-time arithmetic, the
//! inbox of tickets and its clock, replies sent from it and their templates, and
//! compliance figures.

pub mod business_time;
pub mod compliance;
pub mod on_call;
pub mod policy;
pub mod replies;
pub mod templates;
pub mod tickets;
