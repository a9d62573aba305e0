#!/usr/bin/env bash
# Builds every image the kind cluster runs, with no registry: a Debian base bootstrapped here,
# the control plane's and the node's images from the binaries bins.sh built, and the kind node
# image with all of them preloaded. An image that already exists is not rebuilt (tags carry the
# version, or a digest of this repository's inputs). Prints the node image's name on stdout.
set -euo pipefail
log_tag='kind-images'
. "$(dirname "$0")/lib.sh"
export DOCKER_BUILDKIT=0
P=$KIND_IMAGE_PREFIX
base=$P/debian:$DEBIAN_SUITE
k8s_node=$KIND_CACHE/kubernetes-node-$K8S_VERSION

# docker build TAG from a Dockerfile on stdin, with the given files (copied by name) as context.
build() {
  local tag=$1; shift
  local ctx
  ctx=$(mktemp -d)
  cp -r "$@" "$ctx/"
  quiet docker build -t "$tag" -f - "$ctx" || { rm -rf "$ctx"; return 1; }
  rm -rf "$ctx"
  log "built $tag"
}

build_base() {
  image_exists "$base" && return
  local root=$KIND_CACHE/rootfs-$DEBIAN_SUITE
  # A failed bootstrap may have left the kernel's filesystems mounted in the root.
  umount -R "$root/proc" "$root/sys" 2>/dev/null || true
  rm -rf "$root"
  local mirror
  mirror=$(debian_mirror) || { log "no Debian mirror: set DEBIAN_MIRROR (none in this machine's apt sources)"; return 1; }
  quiet debootstrap --variant=minbase "$DEBIAN_SUITE" "$root" "$mirror"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | quiet docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$base"
  rm -rf "$root"
}

# A Debian image with packages added: debian_image NAME PACKAGE...
debian_image() {
  local tag=$P/$1:$DEBIAN_SUITE; shift
  image_exists "$tag" && return
  build "$tag" /dev/null <<DOCKERFILE
FROM $base
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $* \
 && rm -rf /var/lib/apt/lists/*
DOCKERFILE
}

build_debian_images() {
  debian_image netbase iproute2 iptables ipset nftables conntrack ca-certificates
  debian_image python python3 python3-venv python-is-python3 python3-numpy wget ca-certificates
}

# A binary's digest, which the images made from it carry (label tds.binary).
binary_digest() { sha256sum "$1" | cut -c1-12; }

# Whether the image TAG exists and was made from this BINARY (its label tds.binary): an image
# named by its upstream version is made again when the binary is built anew.
image_of_binary() {
  local tag=$1 binary=$2
  [ "$(docker image inspect -f '{{index .Config.Labels "tds.binary"}}' "$tag" 2>/dev/null)" = \
    "$(binary_digest "$binary")" ]
}

# An image of one static binary: binary_image TAG BINARY [PATH_IN_IMAGE] [FROM]
binary_image() {
  local tag=$1 binary=$2 path=${3:-/usr/local/bin/$(basename "$2")} from=${4:-scratch}
  image_of_binary "$tag" "$binary" && return
  build "$tag" "$binary" <<DOCKERFILE
FROM $from
LABEL tds.binary=$(binary_digest "$binary")
COPY $(basename "$binary") $path
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
ENTRYPOINT ["$path"]
DOCKERFILE
}

# The images kubeadm deploys, named as kubeadm of K8S_VERSION names them, so nothing is pulled.
build_control_plane() {
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    binary_image "registry.k8s.io/$c:$K8S_VERSION" "$K8S_BIN/$c"
  done
  binary_image "registry.k8s.io/kube-proxy:$K8S_VERSION" "$k8s_node/kube-proxy" \
    /usr/local/bin/kube-proxy "$P/netbase:$DEBIAN_SUITE"
  binary_image "registry.k8s.io/etcd:$KUBEADM_ETCD_TAG" "$KIND_CACHE/etcd-$KUBEADM_ETCD_VERSION/etcd"
  binary_image "registry.k8s.io/coredns/coredns:$KUBEADM_COREDNS_VERSION" \
    "$KIND_COREDNS_DIR/coredns" /coredns
  binary_image "registry.k8s.io/pause:$KUBEADM_PAUSE_TAG" "$KIND_CACHE/pause-current/pause" /pause
}

net_image() { echo "$P/net:$(inputs_digest "$kind_here/images/net" "$K8S_VERSION")"; }
router_image() { echo "$P/kube-router:$KUBE_ROUTER_VERSION"; }
provisioner_image() { echo "$P/local-path-provisioner:$LOCAL_PATH_PROVISIONER_VERSION"; }

build_addons() {
  local net
  net=$(net_image)
  if ! image_exists "$net"; then
    build "$net" "$kind_here/images/net/tds-kind-net" "$K8S_BIN/kubectl" <<DOCKERFILE
FROM $P/netbase:$DEBIAN_SUITE
COPY kubectl tds-kind-net /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/tds-kind-net"]
DOCKERFILE
  fi
  binary_image "$(router_image)" "$KIND_ROUTER_DIR/kube-router" \
    /usr/local/bin/kube-router "$P/netbase:$DEBIAN_SUITE"
  binary_image "$(provisioner_image)" \
    "$KIND_LOCAL_PATH_DIR/local-path-provisioner"
}

# The images the tests run besides the operator's: the chart's gateway proxy, named as the chart
# names it (built from the same module version), and the trainer (Debian's python3 and numpy).
proxy_image() { sed -n 's/^  gatewayProxyImage: //p' "$repo_root/charts/tds-operator/values.yaml"; }
trainer_image() { echo "$P/trainer:$(inputs_digest "$kind_here/images/trainer" "$DEBIAN_SUITE")"; }

build_workloads() {
  local proxy trainer
  proxy=$(proxy_image)
  if ! image_of_binary "$proxy" "$KIND_RBAC_PROXY_DIR/kube-rbac-proxy"; then
    build "$proxy" "$KIND_RBAC_PROXY_DIR/kube-rbac-proxy" <<DOCKERFILE
FROM scratch
LABEL tds.binary=$(binary_digest "$KIND_RBAC_PROXY_DIR/kube-rbac-proxy")
COPY kube-rbac-proxy /usr/local/bin/kube-rbac-proxy
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/kube-rbac-proxy"]
DOCKERFILE
  fi
  trainer=$(trainer_image)
  if ! image_exists "$trainer"; then
    build "$trainer" "$kind_here/images/trainer/train.py" <<DOCKERFILE
FROM $P/python:$DEBIAN_SUITE
COPY train.py /opt/train/train.py
# The e2e suite's reader fetches from a dataset gateway, whose certificate is the chart's own, with
# wget: what it tests is who may read, not TLS (busybox's wget does not check certificates either).
RUN echo 'check_certificate = off' >/etc/wgetrc
USER 65532:65532
CMD ["python3", "/opt/train/train.py"]
DOCKERFILE
  fi
}

# The operator's image from the repository's Dockerfile, on the Debian python image, installed from
# wheels this machine's pip fetched (the build container needs no package index): build_operator TAG
build_operator() {
  local tag=$1 ctx wheels
  wheels=$KIND_CACHE/wheels-$(inputs_digest "$repo_root/requirements.lock" "$repo_root/pyproject.toml")
  if [ ! -d "$wheels" ]; then
    local -a deps
    mapfile -t deps < <("$repo_root/.venv/bin/python" -c 'import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))
print(*project["build-system"]["requires"], *project["project"]["dependencies"], sep="\n")' \
      "$repo_root/pyproject.toml")
    rm -rf "$wheels.tmp"
    quiet "$repo_root/.venv/bin/pip" download --dest "$wheels.tmp" --only-binary=:all: \
      --constraint "$repo_root/requirements.lock" "${deps[@]}"
    mv "$wheels.tmp" "$wheels"
  fi
  ctx=$(mktemp -d)
  cp -r "$repo_root"/{Dockerfile,.dockerignore,operator,plugin,pyproject.toml,requirements.lock,README.md} "$ctx/"
  cp -r "$wheels" "$ctx/wheels"
  quiet docker build -t "$tag" --build-arg "BASE_IMAGE=$P/python:$DEBIAN_SUITE" \
    --build-arg "PIP_INSTALL_OPTIONS=--no-index --find-links=wheels" "$ctx" || { rm -rf "$ctx"; return 1; }
  rm -rf "$ctx"
}

# Images of earlier inputs, made over a day ago: the other tags of the digest-tagged images (node,
# net, trainer; each node image is 1.5 GB), and the operator images and their build stages that
# later builds left untagged. A day, so that another checkout's current images stay; an image a
# container still runs stays too (docker refuses). prune_superseded CURRENT_TAG...
prune_superseded() {
  local current=" $* " cutoff ref repo label
  cutoff=$(date -u -d '1 day ago' +%s)
  for repo in node net trainer; do
    while read -r ref; do
      case $current in *" $ref "*) continue ;; esac
      [ "$(date -u -d "$(docker image inspect -f '{{.Created}}' "$ref")" +%s)" -lt "$cutoff" ] || continue
      if docker rmi "$ref" >/dev/null 2>&1; then log "removed $ref, superseded"; fi
    done < <(docker image ls --format '{{.Repository}}:{{.Tag}}' "$P/$repo")
  done
  for label in org.opencontainers.image.title=tds-operator tds.stage=build; do
    docker image prune -f --filter "label=$label" --filter until=24h >/dev/null
  done
}

# Every image a new cluster needs before anything can be loaded into it.
preloaded_images() {
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
    echo "registry.k8s.io/$c:$K8S_VERSION"
  done
  echo "registry.k8s.io/etcd:$KUBEADM_ETCD_TAG"
  echo "registry.k8s.io/coredns/coredns:$KUBEADM_COREDNS_VERSION"
  echo "registry.k8s.io/pause:$KUBEADM_PAUSE_TAG"
  net_image; router_image; provisioner_image
  echo "$base"
}

node_image() {
  echo "$P/node:$K8S_VERSION-$(inputs_digest "$kind_here/node" "$(preloaded_images | xargs docker image inspect -f '{{.Id}}')" \
    "$k8s_node" "$K8S_BIN" "$KIND_CACHE/containerd-$CONTAINERD_VERSION" "$KIND_CACHE/runc-$RUNC_VERSION" \
    "$KIND_CACHE/crictl-$CRICTL_VERSION" "$KIND_CACHE/cni-plugins-$CNI_PLUGINS_VERSION")"
}

# The node's root filesystem: the binaries, systemd units and kind's files (/kind/version, the
# default CNI and storage manifests), laid out for one COPY.
node_rootfs() {
  local root=$1 n=$kind_here/node
  mkdir -p "$root"/{usr/local/bin,usr/local/sbin,usr/bin,opt/cni/bin,etc/containerd,etc/systemd/system,etc/default,etc/sysctl.d,kind/manifests}
  cp "$KIND_CACHE/containerd-$CONTAINERD_VERSION"/* "$KIND_CACHE/crictl-$CRICTL_VERSION/crictl" "$n/entrypoint" "$root/usr/local/bin/"
  cp "$KIND_CACHE/runc-$RUNC_VERSION/runc" "$root/usr/local/sbin/"
  cp "$k8s_node/kubelet" "$k8s_node/kubeadm" "$K8S_BIN/kubectl" "$root/usr/bin/"
  cp "$KIND_CACHE/cni-plugins-$CNI_PLUGINS_VERSION"/* "$root/opt/cni/bin/"
  sed "s/PAUSE_TAG/$KUBEADM_PAUSE_TAG/" "$n/containerd.toml" >"$root/etc/containerd/config.toml"
  cp "$n/containerd.service" "$n/kubelet.service" "$n/kubelet.slice" "$root/etc/systemd/system/"
  cp "$n/kubelet.default" "$root/etc/default/kubelet"
  cp "$n/sysctl.conf" "$root/etc/sysctl.d/10-kind.conf"
  cp "$n/crictl.yaml" "$root/etc/crictl.yaml"
  printf '%s' "$K8S_VERSION" >"$root/kind/version"
  sed -e "s#NET_IMAGE#$(net_image)#" -e "s#ROUTER_IMAGE#$(router_image)#" "$n/default-cni.yaml" \
    >"$root/kind/manifests/default-cni.yaml"
  sed -e "s#PROVISIONER_IMAGE#$(provisioner_image)#" -e "s#HELPER_IMAGE#$base#g" "$n/default-storage.yaml" \
    >"$root/kind/manifests/default-storage.yaml"
  chmod -R a+rX "$root"
}

build_node() {
  local tag=$1
  image_exists "$tag" && return
  local ctx
  ctx=$(mktemp -d)
  node_rootfs "$ctx/rootfs"
  # systemd as PID 1 of a container: only the units the node needs start.
  quiet docker build -t "$tag-unloaded" -f - "$ctx" <<DOCKERFILE
FROM $base
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      systemd conntrack iptables nftables iproute2 ethtool util-linux mount kmod libseccomp2 \
      ca-certificates procps \
 && rm -rf /var/lib/apt/lists/* \
 && find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete \
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \
 && echo ReadKMsg=no >>/etc/systemd/journald.conf \
 && ln -sf /lib/systemd/systemd /sbin/init
COPY rootfs/ /
RUN systemctl enable containerd.service kubelet.service && systemctl mask systemd-binfmt.service \
 && mkdir -p /etc/kubernetes/manifests /etc/cni/net.d
DOCKERFILE
  rm -rf "$ctx"
  # Preload the images into the node's containerd (packed; each is unpacked when first run).
  local cid image
  cid=$(docker run -d --privileged --entrypoint /usr/local/bin/containerd "$tag-unloaded")
  for _ in $(seq 30); do docker exec "$cid" ctr version >/dev/null 2>&1 && break; sleep 1; done
  while read -r image; do
    docker save "$image" | docker exec -i "$cid" ctr -n k8s.io images import --no-unpack --all-platforms - >/dev/null
  done < <(preloaded_images)
  log "preloaded $(docker exec "$cid" ctr -n k8s.io images list -q | grep -vc '^sha256:') images"
  docker stop "$cid" >/dev/null
  docker commit "$cid" "$tag-loaded" >/dev/null
  docker rm "$cid" >/dev/null
  quiet docker build -t "$tag" - <<DOCKERFILE
FROM $tag-loaded
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
CMD []
DOCKERFILE
  docker rmi "$tag-loaded" "$tag-unloaded" >/dev/null
  log "built $tag"
}

what=${1:-all}
case $what in
  base)
    step "debootstrap $DEBIAN_SUITE and import it as $base" build_base
    step "Debian images (netbase, python)" build_debian_images
    ;;
  all)
    "$0" base
    step "control-plane images" build_control_plane
    step "network and storage images" build_addons
    step "workload images (gateway proxy, trainer)" build_workloads
    node=$(node_image)
    step "node image $node" build_node "$node"
    prune_superseded "$node" "$(net_image)" "$(trainer_image)"
    echo "$node"
    ;;
  control-plane) step "control-plane images" build_control_plane ;;
  operator) step "operator image $2" build_operator "$2" ;;
  prune) prune_superseded "$(node_image)" "$(net_image)" "$(trainer_image)" ;;
  node-image-name) node_image ;;
  trainer-image-name) trainer_image ;;
  proxy-image-name) proxy_image ;;
  *) log "usage: images.sh [all|base|control-plane|operator TAG|prune|node-image-name|trainer-image-name|proxy-image-name]"; exit 2 ;;
esac
