//! The CLI's one error type. Every message says what went wrong and what to do about it.

use thiserror::Error;

/// Where the CLI talks to: named in messages so the user knows which cluster answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub server: String,
    pub context: String,
    pub namespace: String,
}

#[derive(Debug, Error)]
pub enum CliError {
    #[error("no kubeconfig found ({detail}); set KUBECONFIG or pass --kubeconfig <file>")]
    NoKubeconfig { detail: String },
    #[error("cannot use the kubeconfig {source_name}: {detail}; {hint}")]
    Kubeconfig {
        source_name: String,
        detail: String,
        hint: &'static str,
    },
    #[error(
        "cannot reach the Kubernetes API server at {server} (context {context:?}): {cause}; check that the cluster runs and that KUBECONFIG, --kubeconfig or --context point at it"
    )]
    Unreachable {
        server: String,
        context: String,
        cause: String,
    },
    #[error(
        "the API server at {server} has no SparkApplication API (sparkoperator.k8s.io/v1beta2): the CRDs are not installed; install them with `sparkplane crds | kubectl apply -f -` or with the Helm chart (deploy/helm/sparkplane)"
    )]
    CrdsMissing { server: String },
    #[error(
        "{kind} {name:?} not found in namespace {namespace:?}; list with: sparkplane get{list_flag} -n {namespace}"
    )]
    NotFound {
        kind: &'static str,
        name: String,
        namespace: String,
        list_flag: &'static str,
    },
    #[error(
        "the API server at {server} refused the credentials of context {context:?} (401 Unauthorized): {message}; log in again or pick another --context"
    )]
    Unauthorized {
        server: String,
        context: String,
        message: String,
    },
    #[error(
        "forbidden: {message}; ask your cluster admin for that permission or use another --context"
    )]
    Forbidden { message: String },
    #[error("{action}: the API server answered {code}: {message}")]
    Api {
        action: String,
        code: u16,
        message: String,
    },
    #[error("{action}: {cause}")]
    Request { action: String, cause: String },
    #[error(
        "sparkapplication {app:?} has no driver pod {pod:?} (state {state}); {hint}; see: sparkplane describe {app} -n {namespace}"
    )]
    NoDriverPod {
        app: String,
        pod: String,
        namespace: String,
        state: String,
        hint: &'static str,
    },
    #[error(
        "sparkapplication {app:?} has no executor pod with spark-exec-id={id} (executors found: {found}); see: sparkplane describe {app} -n {namespace}"
    )]
    NoExecutorPod {
        app: String,
        id: u32,
        namespace: String,
        found: String,
    },
    #[error(
        "the driver pod {pod:?} is {phase}: its Spark UI is served only while it runs; see: sparkplane describe {app} -n {namespace}"
    )]
    DriverNotRunning {
        app: String,
        pod: String,
        namespace: String,
        phase: String,
    },
    #[error(
        "sparkapplication {name:?} cannot be read as a v1beta2 SparkApplication: {detail}; see it as stored with: sparkplane get {name} -n {namespace} -o yaml"
    )]
    Malformed {
        name: String,
        namespace: String,
        detail: String,
    },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Partial(String),
    #[error("cannot listen on {address}: {source}; pick another --address or --port")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("encoding the output: {0}")]
    Encode(String),
}

/// What a request was about, so that a 404 can name the missing thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// A SparkApplication by name.
    App(&'a str),
    /// A ScheduledSparkApplication by name.
    Scheduled(&'a str),
    /// A SparkConnect by name.
    Connect(&'a str),
    /// A list of either kind.
    Spark,
    /// Anything else (pods, events): a 404 is passed on as the server said it.
    Other,
}

impl CliError {
    /// Maps an error of the client to what the user should do, for a request about `subject`.
    pub fn from_kube(
        error: kube::Error,
        target: &Target,
        action: &str,
        subject: Subject<'_>,
    ) -> CliError {
        match error {
            kube::Error::Api(status) => from_status(&status, target, action, subject),
            kube::Error::Auth(e) => CliError::Unauthorized {
                server: target.server.clone(),
                context: target.context.clone(),
                message: chain(&e),
            },
            kube::Error::SerdeError(e) => CliError::Request {
                action: action.to_owned(),
                cause: format!("unexpected answer from the API server: {e}"),
            },
            // Connection refused, DNS, TLS, timeouts: the server could not be talked to.
            other => CliError::Unreachable {
                server: target.server.clone(),
                context: target.context.clone(),
                cause: chain(&other),
            },
        }
    }
}

/// A failed request's status to an error. A 404 that names no object means the path itself does
/// not exist: for the sparkoperator.k8s.io kinds, that the CRDs are not installed.
pub fn from_status(
    status: &kube::core::Status,
    target: &Target,
    action: &str,
    subject: Subject<'_>,
) -> CliError {
    let names_object = status.details.as_ref().is_some_and(|d| !d.name.is_empty());
    match (status.code, subject) {
        (404, Subject::App(name)) if names_object => {
            not_found("sparkapplication", name, &target.namespace, "")
        }
        (404, Subject::Scheduled(name)) if names_object => not_found(
            "scheduledsparkapplication",
            name,
            &target.namespace,
            " --kind scheduled",
        ),
        (404, Subject::Connect(name)) if names_object => {
            not_found("sparkconnect", name, &target.namespace, " --kind connect")
        }
        (404, Subject::App(_) | Subject::Scheduled(_) | Subject::Connect(_) | Subject::Spark) => {
            CliError::CrdsMissing {
                server: target.server.clone(),
            }
        }
        (401, _) => CliError::Unauthorized {
            server: target.server.clone(),
            context: target.context.clone(),
            message: status.message.clone(),
        },
        (403, _) => CliError::Forbidden {
            message: status.message.clone(),
        },
        (code, _) => CliError::Api {
            action: action.to_owned(),
            code,
            message: if status.message.is_empty() {
                status.reason.clone()
            } else {
                status.message.clone()
            },
        },
    }
}

pub fn not_found(
    kind: &'static str,
    name: &str,
    namespace: &str,
    list_flag: &'static str,
) -> CliError {
    CliError::NotFound {
        kind,
        name: name.to_owned(),
        namespace: namespace.to_owned(),
        list_flag,
    }
}

/// An error and its causes on one line (`a: b: c`), without repeating a cause already said.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            server: "https://127.0.0.1:6443/".into(),
            context: "testbed".into(),
            namespace: "jobs".into(),
        }
    }

    /// The status of a missing object, as the API server sends it.
    fn object_missing(name: &str) -> kube::core::Status {
        serde_json::from_value(serde_json::json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("sparkapplications.sparkoperator.k8s.io \"{name}\" not found"),
            "reason": "NotFound",
            "details": {"name": name, "group": "sparkoperator.k8s.io", "kind": "sparkapplications"},
            "code": 404
        }))
        .unwrap()
    }

    /// What the client makes of the API server's plain-text `404 page not found`, which is the
    /// whole answer for a path of an API group that is not served (no CRDs).
    fn path_missing() -> kube::core::Status {
        kube::core::Status::failure("404 page not found", "Failed to parse error data")
            .with_code(404)
    }

    fn message(e: CliError) -> String {
        e.to_string()
    }

    #[test]
    fn a_missing_application_says_how_to_list() {
        let e = from_status(
            &object_missing("pi"),
            &target(),
            "getting pi",
            Subject::App("pi"),
        );
        assert_eq!(
            message(e),
            "sparkapplication \"pi\" not found in namespace \"jobs\"; list with: sparkplane get -n jobs"
        );
        let e = from_status(
            &object_missing("nightly"),
            &target(),
            "getting",
            Subject::Scheduled("nightly"),
        );
        assert!(message(e).ends_with("list with: sparkplane get --kind scheduled -n jobs"));
    }

    #[test]
    fn a_missing_path_means_the_crds_are_not_installed() {
        for subject in [Subject::App("pi"), Subject::Scheduled("x"), Subject::Spark] {
            let e = from_status(&path_missing(), &target(), "listing", subject);
            assert!(
                matches!(e, CliError::CrdsMissing { .. }),
                "{subject:?}: {e}"
            );
            assert!(message(e).contains("sparkplane crds | kubectl apply -f -"));
        }
        // A 404 about a pod is not about the CRDs.
        let e = from_status(&path_missing(), &target(), "reading logs", Subject::Other);
        assert_eq!(
            message(e),
            "reading logs: the API server answered 404: 404 page not found"
        );
    }

    #[test]
    fn refusals_say_what_to_do() {
        let forbidden = kube::core::Status::failure(
            "sparkapplications.sparkoperator.k8s.io is forbidden: User \"bob\" cannot list resource",
            "Forbidden",
        )
        .with_code(403);
        let e = from_status(&forbidden, &target(), "listing", Subject::Spark);
        assert!(
            message(e)
                .starts_with("forbidden: sparkapplications.sparkoperator.k8s.io is forbidden")
        );
        let unauthorized =
            kube::core::Status::failure("Unauthorized", "Unauthorized").with_code(401);
        let e = from_status(&unauthorized, &target(), "listing", Subject::Spark);
        assert!(message(e).contains("log in again or pick another --context"));
    }

    #[test]
    fn causes_are_chained_once() {
        #[derive(Debug, Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "refused",
        ));
        assert_eq!(chain(&e), "outer: refused");
    }
}
