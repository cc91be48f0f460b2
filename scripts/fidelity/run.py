#!/usr/bin/env python3
"""Fidelity check: for each case, compare what real spark-submit creates with our plan.

Each file under cases/ holds two YAML documents:

1. a SparkApplication;
2. a `KubeflowSubmission`: written by hand from the spec, what Kubeflow's controller would do for it
   (its submission.go, ../../docs/submission.md and NOTES.md §2):
   - `args`: the spark-submit command line, one option per line (`--conf k=v`, `--jars a,b`), then
     the positional main file and arguments. Placeholders: {{MASTER}}, {{NAMESPACE}},
     {{SUBMISSION_ID}}, {{DRIVER_TEMPLATE}}, {{EXECUTOR_TEMPLATE}};
   - `driverTemplate` / `executorTemplate` (optional): the pod template Kubeflow writes for the role,
     with what its webhook would patch into the pod folded in (default: a template holding just the
     Spark container, as Kubeflow writes it). The SparkApplication owner reference is added here;
   - `objects` (optional): objects Kubeflow's controller creates itself (UI Service, Ingress,
     `<app>-prom-conf`), given partially: every stated field must equal ours.

For each case: create the SparkApplication in a fresh namespace (a real owner), render our plan
(`sparkplane render -o json`), submit every object of it as a server-side dry run (the API server
must accept all of them, and applies the same defaults to both sides), run the real spark-submit
(PyPI pyspark of the release, JDK 17) with Kubeflow's args in cluster mode against the testbed, read back
what it created and compare field by field after normalising the random parts. Exit status 1 on any
difference that is not one of the explained ones in docs/submission.md.

Every case runs with every Spark release listed in spark-versions (the application's `sparkVersion` set
to it, spark-submit from that release's pyspark): the cases are the applications, the releases the
judges. FIDELITY_SPARK_VERSION=<release> runs them with that one only; arguments name the cases to run.

So both halves are checked independently: spec -> Spark configuration (Kubeflow's mapping, stated
per case), and configuration -> objects (Spark itself).
"""
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("fidelity: python3 needs PyYAML (apt-get install python3-yaml, or pip install pyyaml)")

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent / "cases"
CACHE = Path(os.environ.get("SPARKPLANE_PYSPARK_DIR", Path.home() / ".cache/sparkplane/pyspark"))
# A Maven repository on disk for the cases with `deps.packages`: spark-submit resolves packages
# on the submitting side, so they must exist; nothing is downloaded.
M2 = Path("/tmp/sparkplane-fidelity-m2")

# Kubeflow args we do not pass, each explained in docs/submission.md: there is no webhook, so
# nothing is marked as mutated by it.
DROPPED_CONFS = re.compile(r"spark\.kubernetes\.(driver|executor)\.label\.sparkoperator\.k8s\.io/mutated-by-spark-operator=")
# Properties that differ on purpose (docs/submission.md): a wall-clock time, and the path of the
# driver template Kubeflow hands spark-submit (we build the driver pod directly).
IGNORED_PROPERTIES = {"spark.app.submitTime", "spark.kubernetes.driver.podTemplateFile"}
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def sh(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def spark_versions():
    """The releases to run: spark-versions, or FIDELITY_SPARK_VERSION alone."""
    only = os.environ.get("FIDELITY_SPARK_VERSION")
    if only:
        return [only]
    lines = (Path(__file__).resolve().parent / "spark-versions").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def spark_home(version):
    # The venv of the version's line: v4.3 for 4.3.0.
    line = "v" + ".".join(version.split(".")[:2])
    venv = CACHE / line
    site = list((venv / "lib").glob("python3*/site-packages/pyspark"))
    if not site:
        return None, None
    return venv, site[0]


def normalise(obj, subs):
    text = json.dumps(obj, sort_keys=True)
    for pattern, repl in subs:
        text = re.sub(pattern, repl, text)
    obj = json.loads(text)
    meta = obj.get("metadata", {})
    for k in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"):
        meta.pop(k, None)
    for ref in meta.get("ownerReferences", []) or []:
        ref.pop("uid", None)
    obj.pop("status", None)
    spec = obj.get("spec", {})
    for k in ("nodeName", "clusterIP", "clusterIPs", "volumeName"):
        spec.pop(k, None)
    for c in spec.get("containers", []) or []:
        # Env order: Spark writes driverEnv in Scala map order; we sort (docs/submission.md).
        c["env"] = sorted(c.get("env", []) or [], key=lambda e: e["name"])
        for e in c["env"]:
            # Local dirs from spark-local-dir mounts come in Spark's hash-map order; we sort.
            if e["name"] == "SPARK_LOCAL_DIRS":
                e["value"] = ",".join(sorted(e["value"].split(",")))
        c["volumeMounts"] = sorted(c.get("volumeMounts", []) or [], key=lambda m: m["name"])
        # Spark shuffles the directories of spark.local.dir across spark-local-dir-<n>; we keep the
        # given order. Compared as a set of paths.
        local = [m for m in c["volumeMounts"] if m["name"].startswith("spark-local-dir-")]
        for m, path in zip(local, sorted(m["mountPath"] for m in local)):
            m["mountPath"] = path
    if "volumes" in spec:
        spec["volumes"] = sorted(spec["volumes"], key=lambda v: v["name"])
    return obj


def diff(a, b, path=""):
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a:
                out.append(f"{path}.{k}: only in Spark: {json.dumps(b[k])[:200]}")
            elif k not in b:
                out.append(f"{path}.{k}: only in plan: {json.dumps(a[k])[:200]}")
            else:
                out += diff(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, f"{path}[{i}]")
    elif a != b:
        out.append(f"{path}: plan {json.dumps(a)[:200]} != Spark {json.dumps(b)[:200]}")
    return out


def subset_diff(expected, ours, path):
    """Every field stated in `expected` must be in `ours` with the same value."""
    if isinstance(expected, dict) and isinstance(ours, dict):
        out = []
        for k, v in expected.items():
            if k not in ours:
                out.append(f"{path}.{k}: expected {json.dumps(v)[:200]}, missing in plan")
            else:
                out += subset_diff(v, ours[k], f"{path}.{k}")
        return out
    if isinstance(expected, list) and isinstance(ours, list) and len(expected) == len(ours):
        return [d for i, (x, y) in enumerate(zip(expected, ours)) for d in subset_diff(x, y, f"{path}[{i}]")]
    if expected != ours:
        return [f"{path}: expected {json.dumps(expected)[:200]}, plan has {json.dumps(ours)[:200]}"]
    return []


def parse_properties(text):
    # Our properties are plain key=value lines; Java's escapes are undone for comparison.
    props = {}
    for line in text.splitlines():
        if not line or line[0] in "#!":
            continue
        m = re.match(r"((?:\\.|[^=:\\])*)[=:](.*)", line)
        if m:
            unesc = lambda s: re.sub(r"\\(.)", r"\1", s)
            props[unesc(m.group(1))] = unesc(m.group(2))
    return props


def load_case(case):
    docs = [d for d in yaml.safe_load_all(case.read_text()) if d]
    app = next(d for d in docs if d.get("kind") == "SparkApplication")
    expected = next((d for d in docs if d.get("kind") == "KubeflowSubmission"), None)
    return app, expected


def kubeflow_args(lines, subs):
    """One option per line (`--flag value`, split at the first space), then positional arguments."""
    args = []
    for line in lines:
        line = str(line)
        for k, v in subs.items():
            line = line.replace("{{" + k + "}}", v)
        if line.startswith("--"):
            flag, _, value = line.partition(" ")
            if flag == "--conf" and DROPPED_CONFS.match(value):
                continue
            args += [flag, value] if value else [flag]
        else:
            args.append(line)
    return args


def owner(app, controller):
    ref = {"apiVersion": "sparkoperator.k8s.io/v1beta2", "kind": "SparkApplication",
           "name": app["metadata"]["name"], "uid": app["metadata"]["uid"]}
    if controller:
        ref.update(controller=True, blockOwnerDeletion=True)
    return ref


def template(given, container, ref):
    """Kubeflow's pod template for a role: the user's, or one holding just the Spark container."""
    t = json.loads(json.dumps(given)) if given else {"spec": {"containers": [{"name": container}]}}
    refs = t.setdefault("metadata", {}).setdefault("ownerReferences", [])
    if ref not in refs:
        refs.append(ref)
    return {"apiVersion": "v1", "kind": "Pod", **t}


def ensure_m2():
    """A one-artifact Maven repository (org.sparkplane.fidelity:demo:1.0) for `deps.packages`."""
    d = M2 / "org/sparkplane/fidelity/demo/1.0"
    if (d / "demo-1.0.jar").exists():
        return
    d.mkdir(parents=True, exist_ok=True)
    import zipfile
    with zipfile.ZipFile(d / "demo-1.0.jar", "w") as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
    (d / "demo-1.0.pom").write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>org.sparkplane.fidelity</groupId><artifactId>demo</artifactId><version>1.0</version>"
        "<packaging>jar</packaging></project>\n")


class RefusedByBoth(str):
    """A case's result when the plan builder and Spark both refuse the spec: a pass, with our error."""


def spark_submit(expected, created, ns, server, venv, home, kubeconfig, tmp, submission_id):
    """Runs the real spark-submit with Kubeflow's command line and pod templates for this spec."""
    driver_template = tmp / "driver-pod-template.json"
    executor_template = tmp / "executor-pod-template.json"
    driver_template.write_text(json.dumps(template(
        expected.get("driverTemplate"), "spark-kubernetes-driver", owner(created, True))))
    executor_template.write_text(json.dumps(template(
        expected.get("executorTemplate"), "spark-kubernetes-executor", owner(created, False))))
    subs = {"MASTER": f"k8s://{server}", "NAMESPACE": ns, "SUBMISSION_ID": submission_id,
            "DRIVER_TEMPLATE": str(driver_template), "EXECUTOR_TEMPLATE": str(executor_template)}
    args = [str(venv / "bin/spark-submit")] + kubeflow_args(expected["args"], subs)
    env = dict(os.environ, KUBECONFIG=kubeconfig, SPARK_HOME=str(home), SPARK_USER="spark")
    for var in ("SPARK_LOCAL_DIRS", "HADOOP_CONF_DIR", "SPARK_CONF_DIR"):
        env.pop(var, None)
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp)


def both_refuse(our_error, expected, created, ns, server, venv, home, kubeconfig, tmp):
    """The plan builder refused the spec: agreement only if our error names a field and this Spark's
    own spark-submit fails on it too, the API server refusing an object it made (for example a
    `{{APP_ID}}` label that Spark 3.5 leaves unsubstituted)."""
    problems = []
    message = next((line for line in our_error.splitlines() if line.startswith("Error: ")), our_error.strip())
    if "spec." not in message:
        problems.append(f"the plan was refused without naming a field: {message[:500]}")
    res = spark_submit(expected, created, ns, server, venv, home, kubeconfig, tmp,
                       "00000000-0000-8000-8000-000000000000")
    if res.returncode == 0:
        problems.append(f"Spark submitted the application, the plan refused it: {message[:500]}")
    elif "is invalid" not in res.stderr:
        problems.append(f"the plan refused ({message[:300]}); spark-submit failed otherwise:\n{res.stderr[-1500:]}")
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "ns", ns, "--wait=false"], capture_output=True)
    return problems or RefusedByBoth(message.removeprefix("Error: "))


def run_case(case, version, kubeconfig, server, bin_path):
    name = f"{case.stem} @ {version}"
    try:
        return name, run_case_inner(case, version, kubeconfig, server, bin_path)
    except subprocess.CalledProcessError as e:
        return name, [f"{' '.join(map(str, e.cmd))[:300]} failed: {e.stderr[-2000:]}"]


def run_case_inner(case, version, kubeconfig, server, bin_path):
    app_doc, expected = load_case(case)
    if expected is None or "args" not in expected:
        return ["no KubeflowSubmission document with the expected spark-submit args"]
    app_doc["spec"]["sparkVersion"] = version
    venv, home = spark_home(version)
    if venv is None:
        return [f"pyspark for Spark {version} is not installed under {CACHE} (scripts/fidelity/setup)"]
    ns = "fid-" + re.sub(r"[^a-z0-9]", "-", f"{case.stem[:40]}-{version}".lower())
    kc = ["kubectl", "--kubeconfig", kubeconfig]
    subprocess.run(kc + ["delete", "ns", ns, "--wait=true", "--ignore-not-found"], capture_output=True)
    sh(kc + ["create", "ns", ns])
    sh(kc + ["-n", ns, "create", "sa", "spark"])
    app_doc["metadata"]["namespace"] = ns
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "app.json").write_text(json.dumps(app_doc))
        # A real owner, so the garbage collector keeps what points at it.
        created = json.loads(sh(kc + ["create", "-o", "json", "-f", str(tmp / "app.json")]))
        rendered = subprocess.run([bin_path, "render", "-f", str(tmp / "app.json"), "-o", "json",
                                   "--uid", created["metadata"]["uid"], "--master", f"k8s://{server}"],
                                  capture_output=True, text=True)
        if rendered.returncode != 0:
            return both_refuse(rendered.stderr, expected, created, ns, server, venv, home, kubeconfig, tmp)
        ours = json.loads(rendered.stdout)
        pod = next(o for o in ours if o["kind"] == "Pod")
        cms = [o for o in ours if o["kind"] == "ConfigMap"]
        conf_cm = next(c for c in cms if "spark.properties" in c.get("data", {}))
        tmpl_cm = next(c for c in cms if "podspec-configmap-key" in c.get("data", {}))
        svc = next(o for o in ours if o["kind"] == "Service" and o["spec"].get("clusterIP") == "None")
        claims = [o for o in ours if o["kind"] == "PersistentVolumeClaim"]
        # What SubmissionPlan::set_driver_owner does once the driver pod exists.
        for obj in [conf_cm, tmpl_cm, svc] + claims:
            obj["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Pod", "controller": True,
                                                   "name": pod["metadata"]["name"],
                                                   "uid": "00000000-0000-0000-0000-000000000000"}]
        # Every object of the plan must be accepted by the API server.
        dry = {}
        for obj in ours:
            (tmp / "o.json").write_text(json.dumps(obj))
            res = subprocess.run(kc + ["create", "--dry-run=server", "-o", "json", "-f", str(tmp / "o.json")],
                                 capture_output=True, text=True)
            if res.returncode != 0:
                problems.append(f"API server refused {obj['kind']} {obj['metadata']['name']}: {res.stderr.strip()}")
                continue
            dry[(obj["kind"], obj["metadata"]["name"])] = json.loads(res.stdout)
        if problems:
            return problems
        key = lambda o: (o["kind"], o["metadata"]["name"])

        res = spark_submit(expected, created, ns, server, venv, home, kubeconfig, tmp,
                           pod["metadata"]["labels"]["sparkoperator.k8s.io/submission-id"])
        if res.returncode != 0:
            return [f"spark-submit failed ({res.returncode}):\n{res.stderr[-3000:]}"]

    # What Spark created.
    spark_pod = json.loads(sh(kc + ["-n", ns, "get", "pod", pod["metadata"]["name"], "-o", "json"]))
    spark_cms = json.loads(sh(kc + ["-n", ns, "get", "cm", "-o", "json"]))["items"]
    spark_conf_cm = next(c for c in spark_cms if "spark.properties" in (c.get("data") or {}))
    spark_tmpl_cm = next(c for c in spark_cms if "podspec-configmap-key" in (c.get("data") or {}))
    spark_svc = next(s for s in json.loads(sh(kc + ["-n", ns, "get", "svc", "-o", "json"]))["items"]
                     if s["spec"].get("clusterIP") == "None")
    spark_claims = json.loads(sh(kc + ["-n", ns, "get", "pvc", "-o", "json"]))["items"]

    spark_props = parse_properties(spark_conf_cm["data"]["spark.properties"])
    our_props = parse_properties(conf_cm["data"]["spark.properties"])
    spark_prefix = spark_tmpl_cm["metadata"]["name"].removesuffix("-driver-podspec-conf-map")
    spark_uid = re.search(r"spark-drv-([0-9a-f]+)-conf-map", spark_conf_cm["metadata"]["name"]).group(1)
    our_uid = re.search(r"spark-drv-([0-9a-f]+)-conf-map", conf_cm["metadata"]["name"]).group(1)
    our_prefix = tmpl_cm["metadata"]["name"].removesuffix("-driver-podspec-conf-map")
    common = [(rf"spark-{UUID}", "spark-LOCALDIR"), (r"kube-api-access-[a-z0-9]{5}", "kube-api-access-X")]
    subs_spark = [(re.escape(spark_props["spark.app.id"]), "APPID"),
                  (re.escape(spark_svc["metadata"]["name"]), "DRIVERSVC"),
                  (re.escape(spark_prefix), "PREFIX"), (spark_uid, "CMID")] + common
    subs_ours = [(re.escape(dry[key(pod)]["metadata"]["labels"]["spark-app-selector"]), "APPID"),
                 (re.escape(svc["metadata"]["name"]), "DRIVERSVC"), (re.escape(our_prefix), "PREFIX"),
                 (our_uid, "CMID")] + common
    for p in IGNORED_PROPERTIES:
        spark_props.pop(p, None)
        our_props.pop(p, None)
    problems += diff(normalise(our_props, subs_ours), normalise(spark_props, subs_spark), "spark.properties")
    for kind, ours_obj, spark_obj in (("Pod", pod, spark_pod), ("Service", svc, spark_svc)):
        problems += diff(normalise(dry[key(ours_obj)], subs_ours), normalise(spark_obj, subs_spark), kind)
    for name, ours_obj, spark_obj in (("ConfigMap", conf_cm, spark_conf_cm),
                                      ("ExecutorTemplate", tmpl_cm, spark_tmpl_cm)):
        a = normalise(dry[key(ours_obj)], subs_ours)
        b = normalise(spark_obj, subs_spark)
        data_key = "spark.properties" if name == "ConfigMap" else "podspec-configmap-key"
        a_data, b_data = a["data"].pop(data_key), b["data"].pop(data_key)
        if name == "ExecutorTemplate":
            # Spark ships the template file as it is: ours must hold what Kubeflow's template and
            # webhook give the executors.
            problems += diff(normalise(yaml.safe_load(a_data), []), normalise(yaml.safe_load(b_data), []),
                             "ExecutorTemplate.data")
        problems += diff(a, b, name)
    ours_claims = sorted((normalise(dry[key(c)], subs_ours) for c in claims), key=lambda c: c["metadata"]["name"])
    spark_claims = sorted((normalise(c, subs_spark) for c in spark_claims), key=lambda c: c["metadata"]["name"])
    if len(ours_claims) != len(spark_claims):
        problems.append(f"PersistentVolumeClaims: plan has {len(ours_claims)}, Spark {len(spark_claims)}")
    for a, b in zip(ours_claims, spark_claims):
        # The API server stamps a claim's finalizer on creation; a dry run does too.
        problems += diff(a, b, f"PersistentVolumeClaim {b['metadata']['name']}")

    # What Kubeflow's controller creates itself.
    for want in expected.get("objects", []) or []:
        k = (want["kind"], want["metadata"]["name"])
        if k not in dry:
            problems.append(f"{k[0]} {k[1]}: Kubeflow creates it, the plan does not")
            continue
        want = json.loads(json.dumps(want).replace("{{NAMESPACE}}", ns).replace("{{UID}}", created["metadata"]["uid"]))
        problems += subset_diff(want, dry[k], f"{k[0]} {k[1]}")
    planned = {k for k in dry if k[0] in ("Service", "Ingress") or (k[0] == "ConfigMap" and k[1].endswith("-prom-conf"))}
    planned.discard(key(svc))
    stated = {(o["kind"], o["metadata"]["name"]) for o in expected.get("objects", []) or []}
    for k in sorted(planned - stated):
        problems.append(f"{k[0]} {k[1]}: in the plan, not among the case's expected Kubeflow objects")
    subprocess.run(kc + ["delete", "ns", ns, "--wait=false"], capture_output=True)
    return problems


def main():
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        sys.exit("fidelity: KUBECONFIG is not set; run: eval \"$(testbed/up)\"")
    server = re.search(r"server:\s*(\S+)", Path(kubeconfig).read_text()).group(1)
    bin_path = os.environ.get("SPARKPLANE_BIN", str(ROOT / "target/debug/sparkplane"))
    cases = sorted(CASES.glob("*.yaml"))
    only = sys.argv[1:]
    if only:
        cases = [c for c in cases if c.stem in only]
    if not cases:
        # Nothing compared is no pass.
        sys.exit(f"fidelity: no cases to run (in {CASES}, named {only})" if only else f"fidelity: no cases in {CASES}")
    ensure_m2()
    runs = [(case, version) for version in spark_versions() for case in cases]
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=int(os.environ.get("FIDELITY_JOBS", "3"))) as pool:
        for name, problems in pool.map(lambda r: run_case(r[0], r[1], kubeconfig, server, bin_path), runs):
            if isinstance(problems, RefusedByBoth):
                print(f"ok   {name} (refused by both: {problems})")
            elif problems:
                failed += 1
                print(f"FAIL {name}")
                for p in problems:
                    print(f"  {p}")
            else:
                print(f"ok   {name}")
            sys.stdout.flush()
    print(f"fidelity: {len(runs) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
