//! The CRDs under `deploy/crds/` are what the types generate. Regenerate them with
//! `SPARKPLANE_BLESS=1 cargo test -p sparkplane-api --test crds_committed`: that rewrites the stale
//! files and still fails, naming them, so the variable can never make stale CRDs pass (in CI or
//! anywhere); the next run, without it, passes.

use std::path::PathBuf;

fn deploy_crds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds")
}

#[test]
fn committed_crds_are_current() {
    let files = sparkplane_api::crds::crd_files().expect("CRDs generate");
    let bless = std::env::var_os("SPARKPLANE_BLESS").is_some();
    let mut stale = Vec::new();
    for (name, generated) in &files {
        let path = deploy_crds().join(name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if &committed == generated {
            continue;
        }
        stale.push(path.display().to_string());
        if bless {
            std::fs::create_dir_all(deploy_crds()).expect("create deploy/crds");
            std::fs::write(&path, generated).expect("write CRD");
        }
    }
    if bless {
        assert!(
            stale.is_empty(),
            "rewrote stale CRDs {stale:?}; check and commit them (a run that rewrites a file fails)"
        );
    }
    assert!(
        stale.is_empty(),
        "stale CRDs (regenerate with SPARKPLANE_BLESS=1 cargo test -p sparkplane-api --test crds_committed): {stale:?}"
    );
    // Nothing else lives there: a CRD dropped from the code must not linger in deploy/.
    let mut on_disk: Vec<String> = std::fs::read_dir(deploy_crds())
        .expect("deploy/crds exists")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    on_disk.sort();
    let mut expected: Vec<String> = files.iter().map(|(name, _)| name.clone()).collect();
    expected.sort();
    assert_eq!(on_disk, expected);
}

#[test]
fn crds_have_kubeflow_names_columns_and_status() {
    let crds = sparkplane_api::crds::all_crds().expect("CRDs generate");
    let columns = |index: usize| -> Vec<String> {
        crds[index].spec.versions[0]
            .additional_printer_columns
            .iter()
            .flatten()
            .map(|c| c.name.clone())
            .collect()
    };
    assert_eq!(
        columns(0),
        ["Suspend", "Status", "Attempts", "Start", "Finish", "Age"]
    );
    assert_eq!(
        columns(1),
        [
            "Schedule",
            "TimeZone",
            "Suspend",
            "Last Run",
            "Last Run Name",
            "Age"
        ]
    );
    for (crd, short) in crds.iter().zip(["sparkapp", "scheduledsparkapp"]) {
        assert_eq!(crd.spec.group, "sparkoperator.k8s.io");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.short_names, Some(vec![short.to_string()]));
        assert_eq!(crd.spec.names.categories, Some(vec!["spark".to_string()]));
        let version = &crd.spec.versions[0];
        assert_eq!(
            (version.name.as_str(), version.served, version.storage),
            ("v1beta2", true, true)
        );
        assert!(
            version
                .subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
    }
}

/// `kubectl apply` (client-side) records the whole object in an annotation, limited to 256 KiB.
#[test]
fn crds_fit_a_client_side_apply() {
    for crd in sparkplane_api::crds::all_crds().expect("CRDs generate") {
        let size = serde_json::to_vec(&crd).expect("serialize").len();
        assert!(size < 256 * 1024, "{:?} is {size} bytes", crd.metadata.name);
    }
}
