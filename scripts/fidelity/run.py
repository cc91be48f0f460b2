#!/usr/bin/env python3
"""Fidelity check: for each case, compare what real Spark's spark-submit creates with our plan.

For each SparkApplication under cases/: render our plan (`sparkplane render -o json`), submit our
driver pod, ConfigMap and Service as a server-side dry run (so the API server applies the same
defaults to both sides), then run the real spark-submit from pyspark in cluster mode against the
testbed with the same configuration, read back what it created, normalise the random parts and
compare field by field. Exit status 1 on any unexplained difference.

Spark's inputs are our plan's user-level configuration (every property spark-submit and the feature
steps do not add themselves), the main class, resource and arguments, and the executor pod template:
this checks the Spark half (what Spark builds from a configuration) exactly; the Kubeflow half (spec
field -> configuration) is covered by the unit tests and docs/submission.md.
"""
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent / "cases"
CACHE = Path(os.environ.get("SPARKPLANE_PYSPARK_DIR", Path.home() / ".cache/sparkplane/pyspark"))

# What spark-submit and the feature steps add themselves: not inputs to Spark.
SPARK_ADDED = {
    "spark.master", "spark.submit.deployMode", "spark.app.name", "spark.jars", "spark.submit.pyFiles",
    "spark.app.id", "spark.kubernetes.submitInDriver", "spark.kubernetes.resource.type",
    "spark.driver.host", "spark.driver.port", "spark.driver.blockManager.port",
    "spark.kubernetes.executor.podTemplateFile", "spark.files",
}
# Differences we accept on purpose, each explained in docs/submission.md.
IGNORED_PROPERTIES = {"spark.app.submitTime"}


def sh(args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout


def spark_home(version):
    major = "v4.0" if version.startswith("4") else "v3.5"
    venv = CACHE / major
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
    spec.pop("nodeName", None)
    spec.pop("clusterIP", None)
    spec.pop("clusterIPs", None)
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


def run_case(case, kubeconfig, server, bin_path):
    try:
        return run_case_inner(case, kubeconfig, server, bin_path)
    except subprocess.CalledProcessError as e:
        return case.name, [f"{' '.join(map(str, e.cmd))[:300]} failed: {e.stderr[-2000:]}"]


def run_case_inner(case, kubeconfig, server, bin_path):
    app_text = case.read_text()
    version = re.search(r"sparkVersion:\s*(\S+)", app_text).group(1)
    venv, home = spark_home(version)
    if venv is None:
        return case.name, [f"pyspark for Spark {version} is not installed under {CACHE} (scripts/fidelity/setup)"]
    ns = "fid-" + re.sub(r"[^a-z0-9]", "-", case.stem.lower())[:40]
    kc = ["kubectl", "--kubeconfig", kubeconfig]
    subprocess.run(kc + ["delete", "ns", ns, "--wait=true", "--ignore-not-found"], capture_output=True)
    sh(kc + ["create", "ns", ns])
    for sa in ("spark",):
        sh(kc + ["-n", ns, "create", "sa", sa])
    app_text = re.sub(r"(metadata:\n)", rf"\1  namespace: {ns}\n", app_text, count=1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "app.yaml").write_text(app_text)
        # A real owner, so the garbage collector keeps what points at it.
        created = json.loads(sh(kc + ["create", "-o", "json", "-f", str(tmp / "app.yaml")]))
        ours = json.loads(sh([bin_path, "render", "-f", str(tmp / "app.yaml"), "-o", "json",
                              "--uid", created["metadata"]["uid"], "--master", f"k8s://{server}"]))
        pod = next(o for o in ours if o["kind"] == "Pod")
        cms = [o for o in ours if o["kind"] == "ConfigMap"]
        conf_cm = next(c for c in cms if "spark.properties" in c.get("data", {}))
        tmpl_cm = next(c for c in cms if "podspec-configmap-key" in c.get("data", {}))
        svc = next(o for o in ours if o["kind"] == "Service" and o["spec"].get("clusterIP") == "None")
        # What SubmissionPlan::set_driver_owner does once the driver pod exists.
        for obj in (conf_cm, svc):
            obj["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Pod", "controller": True,
                                                   "name": pod["metadata"]["name"],
                                                   "uid": "00000000-0000-0000-0000-000000000000"}]
        ours_dry = {}
        for kind, obj in (("Pod", pod), ("ConfigMap", conf_cm), ("Service", svc)):
            (tmp / "o.json").write_text(json.dumps(obj))
            ours_dry[kind] = json.loads(sh(kc + ["create", "--dry-run=server", "-o", "json", "-f", str(tmp / "o.json")]))
        props = parse_properties(conf_cm["data"]["spark.properties"])

        # Spark's inputs.
        exec_template = tmp / "exec-template.yml"
        exec_template.write_text(tmpl_cm["data"]["podspec-configmap-key"])
        driver_template = tmp / "driver-template.json"
        # The driver's template: everything in our pod Spark does not produce itself.
        spark_container = next(c for c in pod["spec"]["containers"] if c["name"] == "spark-kubernetes-driver")
        keep_c = {k: v for k, v in spark_container.items()
                  if k in ("securityContext", "lifecycle", "envFrom")}
        keep_c["name"] = "spark-kubernetes-driver"
        tmpl_spec = {k: v for k, v in pod["spec"].items()
                     if k in ("affinity", "tolerations", "securityContext", "hostNetwork", "dnsConfig",
                              "priorityClassName", "terminationGracePeriodSeconds", "shareProcessNamespace",
                              "initContainers", "hostAliases")}
        tmpl_spec["containers"] = [keep_c]
        driver_template.write_text(json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "ownerReferences": pod["metadata"].get("ownerReferences", [])}, "spec": tmpl_spec}))
        args = [str(venv / "bin/spark-submit"), "--master", f"k8s://{server}", "--deploy-mode", "cluster",
                "--name", props["spark.app.name"]]
        cmd = spark_container["args"]
        i = cmd.index("--class")
        main_class, resource, app_args = cmd[i + 1], cmd[i + 2], cmd[i + 3:]
        if props.get("spark.kubernetes.resource.type") == "java":
            args += ["--class", main_class]
            jars = [j for j in props.get("spark.jars", "").split(",") if j and j != resource]
            if jars:
                args += ["--jars", ",".join(jars)]
        if props.get("spark.submit.pyFiles"):
            args += ["--py-files", props["spark.submit.pyFiles"]]
        if props.get("spark.files"):
            args += ["--files", props["spark.files"]]
        for k, v in sorted(props.items()):
            if k in SPARK_ADDED or (k == "spark.kubernetes.memoryOverheadFactor" and k not in user_conf(case)):
                continue
            args += ["--conf", f"{k}={v}"]
        args += ["--conf", f"spark.kubernetes.driver.podTemplateFile={driver_template}",
                 "--conf", f"spark.kubernetes.executor.podTemplateFile={exec_template}"]
        args += [resource] + app_args
        env = dict(os.environ, KUBECONFIG=kubeconfig, SPARK_HOME=str(home), SPARK_USER="spark")
        env.pop("SPARK_LOCAL_DIRS", None)
        env.pop("HADOOP_CONF_DIR", None)
        env.pop("SPARK_CONF_DIR", None)
        res = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp)
        if res.returncode != 0:
            return case.name, [f"spark-submit failed ({res.returncode}):\n{res.stderr[-3000:]}"]

    spark_pod = json.loads(sh(kc + ["-n", ns, "get", "pod", pod["metadata"]["name"], "-o", "json"]))
    spark_cms = json.loads(sh(kc + ["-n", ns, "get", "cm", "-o", "json"]))["items"]
    spark_conf_cm = next(c for c in spark_cms if "spark.properties" in (c.get("data") or {}))
    spark_tmpl_cm = next(c for c in spark_cms if "podspec-configmap-key" in (c.get("data") or {}))
    spark_svc = next(s for s in json.loads(sh(kc + ["-n", ns, "get", "svc", "-o", "json"]))["items"]
                     if s["spec"].get("clusterIP") == "None")

    spark_props = parse_properties(spark_conf_cm["data"]["spark.properties"])
    our_props = parse_properties(conf_cm["data"]["spark.properties"])
    spark_app_id = spark_props["spark.app.id"]
    spark_prefix = spark_tmpl_cm["metadata"]["name"].removesuffix("-driver-podspec-conf-map")
    spark_svc_name = spark_svc["metadata"]["name"]
    spark_uid = re.search(r"spark-drv-([0-9a-f]+)-conf-map", spark_conf_cm["metadata"]["name"]).group(1)
    our_uid = re.search(r"spark-drv-([0-9a-f]+)-conf-map", conf_cm["metadata"]["name"]).group(1)
    our_prefix = tmpl_cm["metadata"]["name"].removesuffix("-driver-podspec-conf-map")
    subs_spark = [(re.escape(spark_app_id), "APPID"), (re.escape(spark_svc_name), "DRIVERSVC"),
                  (re.escape(spark_prefix), "PREFIX"), (spark_uid, "CMID"),
                  (r"spark-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "spark-LOCALDIR"),
                  (r"kube-api-access-[a-z0-9]{5}", "kube-api-access-X")]
    subs_ours = [(re.escape(ours_dry["Pod"]["metadata"]["labels"]["spark-app-selector"]), "APPID"),
                 (re.escape(svc["metadata"]["name"]), "DRIVERSVC"), (re.escape(our_prefix), "PREFIX"),
                 (our_uid, "CMID"),
                 (r"spark-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "spark-LOCALDIR"),
                 (r"kube-api-access-[a-z0-9]{5}", "kube-api-access-X")]
    problems = []
    for p in IGNORED_PROPERTIES:
        spark_props.pop(p, None)
        our_props.pop(p, None)
    # Spark's side lists the template file paths we handed it and the submitter's own settings.
    spark_props.pop("spark.kubernetes.driver.podTemplateFile", None)
    problems += diff(normalise(our_props, subs_ours), normalise(spark_props, subs_spark), "spark.properties")
    for kind, spark_obj in (("Pod", spark_pod), ("Service", spark_svc)):
        problems += diff(normalise(ours_dry[kind], subs_ours), normalise(spark_obj, subs_spark), kind)
    ours_cm = normalise(ours_dry["ConfigMap"], subs_ours)
    theirs_cm = normalise(spark_conf_cm, subs_spark)
    ours_cm["data"].pop("spark.properties")
    theirs_cm["data"].pop("spark.properties")
    problems += diff(ours_cm, theirs_cm, "ConfigMap")
    subprocess.run(kc + ["delete", "ns", ns, "--wait=false"], capture_output=True)
    return case.name, problems


def user_conf(case):
    text = case.read_text()
    return {"spark.kubernetes.memoryOverheadFactor"} if "memoryOverheadFactor" in text else set()


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
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=int(os.environ.get("FIDELITY_JOBS", "3"))) as pool:
        for name, problems in pool.map(lambda c: run_case(c, kubeconfig, server, bin_path), cases):
            if problems:
                failed += 1
                print(f"FAIL {name}")
                for p in problems:
                    print(f"  {p}")
            else:
                print(f"ok   {name}")
    print(f"fidelity: {len(cases) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
