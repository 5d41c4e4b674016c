//! Response SLAs.

pub mod business_time;
