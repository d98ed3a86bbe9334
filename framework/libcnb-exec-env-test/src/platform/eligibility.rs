//! Whether a process may run in an execution environment: the error every engine gives when
//! asked to launch a process that declares other environments (`exec-env`), worded once.

use crate::engine::EngineError;
use crate::results::ProcessReport;
use libcnb_exec_env::ExecEnv;

/// The error for launching `process` in `exec_env` (`None`: unset, which means production)
/// when the process does not declare that environment.
#[must_use]
pub fn not_eligible(process: &ProcessReport, exec_env: Option<&ExecEnv>) -> EngineError {
    let first = process
        .exec_env
        .to_list()
        .and_then(|list| list.into_iter().next())
        .unwrap_or_default();
    EngineError::NotEligible {
        process: process.r#type.clone(),
        needs: process.exec_env.clone(),
        first,
        current: exec_env.cloned().unwrap_or(ExecEnv::Production),
        unset: if exec_env.is_none() {
            " (CNB_EXEC_ENV is unset, which means production)"
        } else {
            ""
        },
    }
}
