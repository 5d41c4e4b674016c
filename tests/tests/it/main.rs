//! End-to-end tests: the real schema and services over real PostgreSQL and SQLite
//! databases (one per test), real Redis, and a real SMTP server on loopback.

mod auth;
mod brands;
mod http;
mod members;
mod migrations;
mod schema;
mod tenancy;
