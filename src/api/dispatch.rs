//! A job run in the state's sandbox with the server's limits, counted in
//! the metrics as a run of its API (in flight while it runs, then by its
//! outcome). Every API's handlers run their jobs through here.

use super::error::ApiError;
use super::job::Job;
use super::metrics::Api;
use super::state::AppState;
use crate::sandbox::{Interaction, RunOutcome};

impl Job {
    /// Runs the job in `state`'s sandbox with the server's limits (the
    /// language's overrides applied here), counted in the metrics as a run
    /// of `api`.
    pub async fn run(self, state: &AppState, api: Api) -> Result<RunOutcome, ApiError> {
        self.run_with(state, api, None).await
    }

    /// The same, with stdin, signals and output live through `interaction`.
    pub async fn run_with(
        self,
        state: &AppState,
        api: Api,
        interaction: Option<Interaction>,
    ) -> Result<RunOutcome, ApiError> {
        let language = self.language.name.clone();
        let _in_flight = state.metrics.run_started(api);
        let result = self
            .attempt(
                state.sandbox.as_ref(),
                state.limits,
                &state.images,
                interaction,
            )
            .await
            .map_err(ApiError::from);
        state.metrics.run_finished(api, &language, &result);
        result
    }
}
