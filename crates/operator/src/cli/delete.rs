//! `sparkplane delete`: deletes SparkApplications, printing kubectl's line for each.

use kube::api::{ApiResource, DeleteParams, ListParams};
use sparkplane_api::SparkApplication;

use super::connect::{ClusterArgs, connect};
use super::error::{CliError, Subject};
use super::{out, spark_api};

#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The SparkApplications to delete.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub names: Vec<String>,
    /// Delete every SparkApplication of the namespace.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// kubectl's confirmation line.
pub fn deleted_line(name: &str) -> String {
    format!("sparkapplication.sparkoperator.k8s.io {name:?} deleted\n")
}

pub async fn run(args: DeleteArgs) -> Result<(), CliError> {
    let session = connect(&args.cluster).await?;
    let resource = ApiResource::erase::<SparkApplication>(&());
    let api = spark_api(&session, &resource, false);
    let names = if args.all {
        let list = api
            .list_metadata(&ListParams::default())
            .await
            .map_err(|e| {
                CliError::from_kube(
                    e,
                    &session.target,
                    "listing sparkapplications",
                    Subject::Spark,
                )
            })?;
        let names: Vec<String> = list
            .items
            .into_iter()
            .filter_map(|o| o.metadata.name)
            .collect();
        if names.is_empty() {
            eprintln!(
                "No sparkapplications found in namespace {:?}.",
                session.target.namespace
            );
        }
        names
    } else {
        args.names
    };
    // Like kubectl: go through every name, then fail if any deletion did.
    let total = names.len();
    let mut failures = Vec::new();
    for name in names {
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => out(&deleted_line(&name))?,
            Err(e) => failures.push(CliError::from_kube(
                e,
                &session.target,
                &format!("deleting sparkapplication {name:?}"),
                Subject::App(&name),
            )),
        }
    }
    if failures.len() <= 1 {
        return failures.pop().map_or(Ok(()), Err);
    }
    for failure in &failures {
        eprintln!("error: {failure}");
    }
    Err(CliError::Partial(format!(
        "{} of {total} sparkapplications were not deleted",
        failures.len()
    )))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_confirmation_reads_like_kubectl() {
        assert_eq!(
            super::deleted_line("spark-pi"),
            "sparkapplication.sparkoperator.k8s.io \"spark-pi\" deleted\n"
        );
    }
}
