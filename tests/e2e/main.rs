//! End-to-end tests: the real binary, spawned in a temp folder with its own config, against
//! a fake Alpaca on 127.0.0.1. One test binary (faster to link), one module per command.

#[path = "../support/fake_alpaca.rs"]
mod fake_alpaca;
mod harness;

mod adversarial;
mod alert_channels;
mod backtest;
mod broker;
mod chaos;
mod check;
mod cli;
mod data_check;
mod fake_complex;
mod faults;
mod files;
mod first_contact;
mod history;
mod model;
mod ops;
mod orders;
mod progress;
mod replay;
mod review;
mod schedule;
mod scripts;
mod secrets;
mod stops;
mod tick;
mod wire;
