#!/usr/bin/env bash
# Stages the Spark layer of one Spark version from PyPI's pyspark source distribution, in the layout of the
# official apache/spark image:
#
#   /opt/spark/{bin,sbin,jars,data}           the sdist's deps/{bin,sbin,jars,data}
#   /opt/spark/examples/src/main/python       the sdist's deps/examples (pi.py, wordcount.py, ...)
#   /opt/spark/examples/jars/spark-examples_<scala>-<version>.jar   our SparkPi (examples/SparkPi.java),
#                                              compiled against this version's jars; spark-examples.jar -> it
#   /opt/spark/python/pyspark                 the Python package
#   /opt/spark/python/lib/pyspark.zip, py4j-<v>-src.zip   what Spark puts on Python workers' PYTHONPATH; the
#                                              py4j zip carries exactly the name hard-coded in that version's
#                                              PythonUtils (read from the spark-core jar)
#   /opt/spark/work-dir                       owned by 185:185, mode 0775 (the image's working directory)
#   /opt/spark/sbin/{start,stop}-connect-server.sh   ours (sbin/), where the sdist has none
#   /opt/entrypoint.sh, /opt/decom.sh
#
#   spark-layer.sh VERSION SDIST OUT_DIR
#
# OUT_DIR (must not exist) becomes the layer's root. Everything is owned by root except /opt/spark and
# /opt/spark/work-dir (185:185, as in the official image, where the spark user may create files there).
# Needs python3, javac and jar (JDK 17) on the host.
set -euo pipefail

version=$1
sdist=$2
out=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
spark_uid=185

step() { printf '== %s: %s\n' "$(date +%T)" "$*"; }

[ ! -e "$out" ] || { echo "$out already exists" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spark-layer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

step "unpacking $(basename "$sdist")"
tar -xzf "$sdist" -C "$tmp" --no-same-owner
src="$tmp/pyspark-$version"
[ -d "$src/deps/jars" ] || { echo "no deps/jars in $sdist" >&2; exit 1; }

spark="$out/opt/spark"
mkdir -p "$spark/python/lib" "$spark/examples/src/main" "$spark/examples/jars" "$spark/work-dir"
for d in bin sbin jars data; do
  mv "$src/deps/$d" "$spark/$d"
done
mv "$src/deps/examples" "$spark/examples/src/main/python"
mv "$src/pyspark" "$spark/python/pyspark"
printf 'Spark %s, from the pyspark %s source distribution on PyPI, laid out by Sparkplane testbed/images\n' \
  "$version" "$version" >"$spark/RELEASE"

step "Python libraries"
core_jar=$(ls "$spark"/jars/spark-core_*-"$version".jar)
scala=$(basename "$core_jar" | sed -E 's/^spark-core_([0-9.]+)-.*$/\1/')
# The py4j zip name Spark looks for (PythonUtils.PY4J_ZIP_NAME), read from the compiled class.
py4j_zip=$(python3 - "$core_jar" <<'PY'
import re, sys, zipfile
data = zipfile.ZipFile(sys.argv[1]).read("org/apache/spark/api/python/PythonUtils$.class")
names = set(re.findall(rb"py4j-[0-9][0-9.]*-src\.zip", data))
if len(names) != 1:
    sys.exit(f"expected one py4j zip name in PythonUtils, found {sorted(names)}")
print(names.pop().decode())
PY
)
echo "Spark $version expects python/lib/$py4j_zip (scala $scala)"
[ -f "$src/lib/pyspark.zip" ] || { echo "no lib/pyspark.zip in $sdist" >&2; exit 1; }
cp "$src/lib/pyspark.zip" "$spark/python/lib/pyspark.zip"
if [ -f "$src/lib/$py4j_zip" ]; then
  echo "using the sdist's lib/$py4j_zip"
  cp "$src/lib/$py4j_zip" "$spark/python/lib/$py4j_zip"
else
  # Not in the sdist: build it from py4j's own source distribution at that version.
  py4j_version=${py4j_zip#py4j-}
  py4j_version=${py4j_version%-src.zip}
  echo "the sdist has no lib/$py4j_zip: building it from PyPI's py4j==$py4j_version"
  pip download --quiet --no-deps --no-binary :all: --dest "$tmp/py4j" "py4j==$py4j_version"
  tar -xzf "$tmp"/py4j/py4j-*.tar.gz -C "$tmp/py4j" --no-same-owner
  python3 - "$tmp/py4j/py4j-$py4j_version/src" "$spark/python/lib/$py4j_zip" <<'PY'
import os, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for d, dirs, files in os.walk(os.path.join(src, "py4j")):
        dirs[:] = sorted(x for x in dirs if x != "tests")
        for f in sorted(files):
            if f.endswith(".py"):
                p = os.path.join(d, f)
                z.write(p, os.path.relpath(p, src))
PY
fi
python3 - "$spark/python/lib" <<'PY'
import sys, zipfile, os
for z in sorted(os.listdir(sys.argv[1])):
    names = zipfile.ZipFile(os.path.join(sys.argv[1], z)).namelist()
    pkg = "pyspark/__init__.py" if z == "pyspark.zip" else "py4j/__init__.py"
    if pkg not in names:
        sys.exit(f"{z} lacks {pkg}")
    print(f"{z}: {len(names)} entries")
PY
[ -f "$spark/examples/src/main/python/pi.py" ] || { echo "the sdist has no examples pi.py" >&2; exit 1; }

step "examples jar (SparkPi) for scala $scala"
mkdir -p "$tmp/classes"
javac --release 17 -encoding UTF-8 -nowarn -d "$tmp/classes" -cp "$spark/jars/*" "$here/examples/SparkPi.java"
jar_name="spark-examples_$scala-$version.jar"
# A fixed entry date makes the jar the same bytes on every build with the same JDK.
jar --create --date=1980-01-01T00:00:02Z --file "$spark/examples/jars/$jar_name" -C "$tmp/classes" .
ln -s "$jar_name" "$spark/examples/jars/spark-examples.jar"

step "entrypoint, Spark Connect scripts, ownership and modes"
install -m 0755 "$here/entrypoint.sh" "$out/opt/entrypoint.sh"
# The distribution's Spark Connect start and stop scripts, which the sdist lacks (ours, same contract).
for script in start-connect-server.sh stop-connect-server.sh; do
  [ -e "$spark/sbin/$script" ] || install -m 0755 "$here/sbin/$script" "$spark/sbin/$script"
done
install -m 0755 "$here/decom.sh" "$out/opt/decom.sh"
chown -R 0:0 "$out"
chmod -R u+rwX,go+rX,go-w "$out"
chown "$spark_uid:$spark_uid" "$spark" "$spark/work-dir"
chmod 0775 "$spark/work-dir"
step "done: $(du -sh "$out" | cut -f1)"
