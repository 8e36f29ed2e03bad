//! An Airflow dags answer (`DagList`), decoded as the client decodes it: HTML
//! refused, JSON errors with their path. Errors are fine; panics are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tablestat::sources::SourceName;
use tablestat::sources::airflow::DagList;
use tablestat::sources::http::{self, Answer};

fuzz_target!(|data: &[u8]| {
    let answer = Answer::json(data.to_vec());
    if let Ok(list) = http::decode::<DagList>(SourceName::Airflow, "GET /fuzz", &answer) {
        let _ = format!("{list:?}");
    }
});
