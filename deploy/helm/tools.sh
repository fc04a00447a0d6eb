#!/usr/bin/env bash
# Installs what the offline verification of the Helm chart needs into var/tools (cached:
# a second run does nothing). Used by `make test`, `make test-deploy` and CI.
#   - helm, built from the Go module proxy (go install helm.sh/helm/v3/cmd/helm@HELM_VERSION)
#   - Strimzi's CRDs (Kafka, KafkaNodePool, KafkaTopic, KafkaUser) generated from Strimzi's
#     API model and generator jars on Maven Central (deploy/helm/schemas/pom.xml)
#   - the Prometheus Operator's ServiceMonitor and PodMonitor CRDs, from its Go module
# The Kubernetes schemas come with the kubernetes-validate package (pyproject.toml, dev).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
var=${DOITHOAI_VAR:-$repo/var}
tools=$var/tools
HELM_VERSION=v3.19.5
STRIMZI_VERSION=0.50.0
PROM_OPERATOR_VERSION=v0.85.0
stamp=$tools/.installed
want="helm=$HELM_VERSION strimzi=$STRIMZI_VERSION prometheus-operator=$PROM_OPERATOR_VERSION"

say() { echo "deploy-tools: $*"; }
die() { echo "deploy-tools: $*" >&2; exit 1; }

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$tools/bin/helm" ]; then
  exit 0
fi
command -v go >/dev/null || die "Go is needed to build helm (apt-get install golang-go, or Go 1.22+)"
command -v mvn >/dev/null || die "Maven is needed for Strimzi's schemas (apt-get install maven)"
command -v java >/dev/null || die "Java 17 is needed for Strimzi's schemas"
mkdir -p "$tools/bin" "$tools/crds"

if ! "$tools/bin/helm" version --short 2>/dev/null | grep -q "^$HELM_VERSION"; then
  say "building helm $HELM_VERSION from the Go module proxy (a few minutes the first time)"
  GOBIN=$tools/bin GOFLAGS=-mod=mod go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

say "generating Strimzi $STRIMZI_VERSION CRDs"
lib=$tools/strimzi/lib
rm -rf "$lib" && mkdir -p "$lib"
mvn -q -B -f "$repo/deploy/helm/schemas/pom.xml" dependency:copy-dependencies \
  -Dstrimzi.version="$STRIMZI_VERSION" -DoutputDirectory="$lib"
gen() { java -cp "$lib/*" io.strimzi.crdgenerator.CrdGenerator --label app:strimzi \
          --target-kube 1.16+ --crd-api-version v1 --storage-version v1beta2 "$@" 2>/dev/null; }
out=$tools/crds/strimzi
rm -rf "$out" && mkdir -p "$out"
# The same generator arguments as Strimzi's own build (api/pom.xml).
gen --api-versions v1beta2,v1 --describe-api-versions v1alpha1 \
  --yaml "io.strimzi.api.kafka.model.kafka.Kafka=$out/kafka.yaml"
gen --api-versions v1beta2,v1 \
  --yaml "io.strimzi.api.kafka.model.nodepool.KafkaNodePool=$out/kafkanodepool.yaml"
gen --api-versions v1alpha1,v1beta1,v1beta2,v1 \
  --yaml "io.strimzi.api.kafka.model.topic.KafkaTopic=$out/kafkatopic.yaml" \
         "io.strimzi.api.kafka.model.user.KafkaUser=$out/kafkauser.yaml"
for f in kafka kafkanodepool kafkatopic kafkauser; do
  [ -s "$out/$f.yaml" ] || die "the Strimzi generator wrote no $f.yaml"
done

say "fetching the Prometheus Operator $PROM_OPERATOR_VERSION CRDs (Go module)"
dir=$(cd "$tools" && GOFLAGS=-mod=mod go mod download -json \
        "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION" \
      | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || die "go mod download gave no directory for the Prometheus Operator"
mkdir -p "$tools/crds/monitoring"
for kind in servicemonitors podmonitors; do
  cp "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$kind.yaml" "$tools/crds/monitoring/"
done
chmod -R u+w "$tools/crds/monitoring"

echo "$want" > "$stamp"
say "ready in $tools"
