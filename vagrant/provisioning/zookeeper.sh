#!/usr/bin/env bash
# zookeeper.sh: the ZooKeeper of the high-availability lab (LAB_HA=1), on the
# master: one standalone server from Debian's zookeeper package, run with
# java by systemd (the package ships the jars and no service), listening on
# MASTER_IP:2181 with its data in /var/lib/zookeeper. The Mesos masters elect
# their leader under /mesos (the agents follow it there), the ovn-mesos
# instances theirs under /ovn-mesos.
#
# Writes the configuration directory /etc/zookeeper/conf_ovn-mesos (zoo.cfg;
# myid; log4j.properties: the server logs to the journal; environment: read
# by the package's zkCli.sh and zkServer.sh) and
# /etc/systemd/system/zookeeper.service. Unless rendering, it makes that
# directory the package's /etc/zookeeper/conf (the zookeeper-conf
# alternative, which the package's /var/lib/zookeeper/myid points into),
# starts the server and waits until it answers.
#
# Environment: MASTER_IP.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STEP=zookeeper
# shellcheck source=lib.sh
. "$HERE/lib.sh"

CONF_DIR=/etc/zookeeper/conf_ovn-mesos
DATA_DIR=/var/lib/zookeeper
UNIT=/etc/systemd/system/zookeeper.service
JAVA=/usr/bin/java
MAIN_CLASS=org.apache.zookeeper.server.quorum.QuorumPeerMain
# the server jar (its manifest names its dependencies) plus an SLF4J binding
# and log4j 1.2, without which the server would log nothing
CLASSPATH=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar

# render_config: zoo.cfg, myid, log4j.properties and environment in CONF_DIR.
render_config() {
  write_file "$CONF_DIR/zoo.cfg" 0644 <<CFG
# ZooKeeper of the ovn-mesos lab (vagrant/provisioning/zookeeper.sh): one
# standalone server. Mesos under /mesos, ovn-mesos under /ovn-mesos.
# Sessions last between 2 and 20 ticks (4 s to 40 s).
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$DATA_DIR
clientPort=$ZK_PORT
clientPortAddress=$MASTER_IP
4lw.commands.whitelist=ruok,srvr,stat,mntr
admin.enableServer=false
autopurge.snapRetainCount=3
autopurge.purgeInterval=24
CFG
  # read through the package's /var/lib/zookeeper/myid -> /etc/zookeeper/conf/myid
  echo 1 | write_file "$CONF_DIR/myid" 0644
  write_file "$CONF_DIR/log4j.properties" 0644 <<'LOG4J'
# ZooKeeper's logging in the ovn-mesos lab (vagrant/provisioning/zookeeper.sh):
# the server logs to stdout, that is to the journal (journalctl -u zookeeper);
# the tools set zookeeper.root.logger to WARN (see environment).
zookeeper.root.logger=INFO, CONSOLE
log4j.rootLogger=${zookeeper.root.logger}
log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender
log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout
log4j.appender.CONSOLE.layout.ConversionPattern=%-5p [%t:%C{1}@%L] - %m%n
LOG4J
  {
    echo '# Read by the tools of the zookeeper package (zkCli.sh, zkServer.sh status);'
    echo '# the server runs from zookeeper.service (vagrant/provisioning/zookeeper.sh).'
    env_line ZOOMAIN "$MAIN_CLASS"
    env_line ZOOCFGDIR /etc/zookeeper/conf
    env_line ZOOCFG /etc/zookeeper/conf/zoo.cfg
    env_line ZOO_LOG_DIR /var/log/zookeeper
    env_line ZOO_LOG4J_PROP WARN,CONSOLE
    env_line CLIENT_JVMFLAGS -Dzookeeper.root.logger=WARN,CONSOLE
    env_line JMXLOCALONLY true
    env_line JAVA "$JAVA"
    env_line CLASSPATH "/etc/zookeeper/conf:$CLASSPATH"
  } | write_file "$CONF_DIR/environment" 0644
}

# render_unit: zookeeper.service, the server as the package's zookeeper user.
render_unit() {
  {
    echo '[Unit]'
    echo "Description=ZooKeeper of the ovn-mesos lab (standalone, $MASTER_IP:$ZK_PORT)"
    echo "Documentation=file://${LAB_SRC:-/ovn-mesos}/vagrant/README.md"
    echo 'Wants=network-online.target'
    # with DATAPATH_TYPE=netdev the overlay address is on br-phy
    echo 'After=network-online.target ovn-mesos-underlay.service'
    echo
    echo '[Service]'
    echo 'User=zookeeper'
    echo 'Group=zookeeper'
    printf '%s\n' "$JAVA" -Xmx256m -XX:+UseSerialGC -XX:-UsePerfData -Djava.awt.headless=true \
      "-Dlog4j.configuration=file:$CONF_DIR/log4j.properties" "-cp $CLASSPATH" \
      "$MAIN_CLASS" "$CONF_DIR/zoo.cfg" | exec_start_lines
    echo 'StateDirectory=zookeeper'
    echo 'StateDirectoryMode=0750'
    # the JVM ends with 143 on SIGTERM
    echo 'SuccessExitStatus=143'
    echo 'Restart=on-failure'
    echo 'RestartSec=3'
    echo
    echo '[Install]'
    echo 'WantedBy=multi-user.target'
  } | write_file "$UNIT" 0644
}

# imok: true when the server answers ruok with imok.
imok() {
  local answer=
  { exec 3<>"/dev/tcp/$MASTER_IP/$ZK_PORT"; } 2>/dev/null || return 1
  printf ruok >&3
  read -r -t 5 answer <&3 || true
  exec 3<&-
  [ "$answer" = imok ]
}

# start_server: selects CONF_DIR as /etc/zookeeper/conf, (re)starts the
# server and waits (up to 60 s) until it answers on MASTER_IP:ZK_PORT.
start_server() {
  update-alternatives --install /etc/zookeeper/conf zookeeper-conf "$CONF_DIR" 50
  update-alternatives --set zookeeper-conf "$CONF_DIR"
  enable_now zookeeper.service
  systemctl restart zookeeper.service
  local deadline=$((SECONDS + 60))
  until imok; do
    [ "$SECONDS" -lt "$deadline" ] || die "ZooKeeper does not answer on $MASTER_IP:$ZK_PORT after 60 s"
    sleep 0.5
  done
  log "ZooKeeper answers on $MASTER_IP:$ZK_PORT"
}

main() {
  parse_mode "$@"
  require_env MASTER_IP
  render_config
  render_unit
  render_only || start_server
}

main "$@"
