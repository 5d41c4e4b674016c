//! End-to-end tests: the real schema and services over real PostgreSQL and SQLite
//! databases (one per test), real Redis, and a real SMTP server on loopback.

mod admin;
mod auth;
mod brands;
mod calendar;
mod collectors;
mod connections;
mod crash;
mod crises;
mod demo;
mod deploy;
mod docs;
mod faults;
mod frontends;
mod fuzz;
mod hardening;
mod http;
mod ingest;
mod members;
mod migrations;
mod openapi;
mod production;
mod queue;
mod relationships;
mod replies;
mod reports;
mod retention;
mod schema;
mod scoring;
mod security;
mod sla;
mod telemetry;
mod tenancy;
mod tour;
mod webhooks;
mod youtube;
