package org.softmig.coordinator.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NodeSettingsTest {

  @TempDir Path dir;

  @Test
  void readsEveryKeyOfTheNodeConfigFile() throws Exception {
    Path file =
        Files.writeString(
            dir.resolve("node.conf"),
            "softmig {\n"
                + "  socket = /tmp/x.sock\n"
                + "  sm-policy = share\n"
                + "  lease = 50ms\n"
                + "  config-dir = /etc/softmig/jobs\n"
                + "  simulate = \"48G,48G\"\n"
                + "  node-name = gpu07\n"
                + "  admin-group = hpcadmin\n"
                + "  status.hide-other-users = true\n"
                + "  metrics-port = 9464\n"
                + "  cluster-port = 2552\n"
                + "  seeds = [\"gpu01:2552\"]\n"
                + "}\n");
    NodeSettings s = NodeSettings.load(file);
    assertThat(s.socket()).isEqualTo(Path.of("/tmp/x.sock"));
    assertThat(s.smPolicy()).isEqualTo("share");
    assertThat(s.leaseMillis()).isEqualTo(50);
    assertThat(s.configDir()).isEqualTo(Path.of("/etc/softmig/jobs"));
    assertThat(s.simulate()).isEqualTo("48G,48G");
    assertThat(s.nodeName()).isEqualTo("gpu07");
    assertThat(s.adminGroup()).isEqualTo("hpcadmin");
    assertThat(s.hideOtherUsers()).isTrue();
    assertThat(s.metricsPort()).isEqualTo(9464);
    assertThat(s.clusterPort()).isEqualTo(2552);
    assertThat(s.seeds()).isEqualTo(List.of("gpu01:2552"));
  }

  @Test
  void theShippedSlurmConfigKillsUnmanagedProcessesButRoots() {
    NodeSettings s = NodeSettings.load(Path.of("../deploy/etc/softmig.conf"));
    assertThat(s.unmanagedPolicy()).isEqualTo(org.softmig.gpu.domain.UnmanagedPolicy.KILL);
    assertThat(s.unmanagedExemptUsers()).containsExactly("root");
    // the built-in default stays report, with nobody exempt
    assertThat(NodeSettings.defaults().unmanagedPolicy())
        .isEqualTo(org.softmig.gpu.domain.UnmanagedPolicy.REPORT);
    assertThat(NodeSettings.defaults().unmanagedExemptUsers()).isEmpty();
  }

  @Test
  void exemptUsersMustBeUserNames() throws Exception {
    Path good =
        Files.writeString(
            dir.resolve("g.conf"), "softmig.unmanaged-exempt-users = [root, dcgm, \"svc_mon$\"]\n");
    assertThat(NodeSettings.load(good).unmanagedExemptUsers())
        .containsExactly("root", "dcgm", "svc_mon$");
    Path bad =
        Files.writeString(
            dir.resolve("e.conf"), "softmig.unmanaged-exempt-users = [\"root\", \"a b\"]\n");
    assertThatThrownBy(() -> NodeSettings.load(bad))
        .hasMessageContaining(bad.toString())
        .hasMessageContaining("softmig.unmanaged-exempt-users")
        .hasMessageContaining("a b");
    Path notList = Files.writeString(dir.resolve("n.conf"), "softmig.unmanaged-exempt-users = {}\n");
    assertThatThrownBy(() -> NodeSettings.load(notList))
        .hasMessageContaining("softmig.unmanaged-exempt-users");
  }

  @Test
  void plainNumbersForTheLeaseAreMilliseconds() throws Exception {
    Path file = Files.writeString(dir.resolve("n.conf"), "softmig.lease = 30\n");
    assertThat(NodeSettings.load(file).leaseMillis()).isEqualTo(30);
  }

  @Test
  void badValuesNameFileKeyAndValue() throws Exception {
    Path policy = Files.writeString(dir.resolve("p.conf"), "softmig.sm-policy = fair\n");
    assertThatThrownBy(() -> NodeSettings.load(policy))
        .hasMessageContaining(policy.toString())
        .hasMessageContaining("softmig.sm-policy")
        .hasMessageContaining("fair");
    Path lease = Files.writeString(dir.resolve("l.conf"), "softmig.lease = soon\n");
    assertThatThrownBy(() -> NodeSettings.load(lease))
        .hasMessageContaining("softmig.lease")
        .hasMessageContaining("soon");
    Path port = Files.writeString(dir.resolve("m.conf"), "softmig.metrics-port = 70000\n");
    assertThatThrownBy(() -> NodeSettings.load(port))
        .hasMessageContaining("softmig.metrics-port")
        .hasMessageContaining("70000");
    Path hide = Files.writeString(dir.resolve("h.conf"), "softmig.status.hide-other-users = mostly\n");
    assertThatThrownBy(() -> NodeSettings.load(hide))
        .hasMessageContaining(hide.toString())
        .hasMessageContaining("softmig.status.hide-other-users")
        .hasMessageContaining("mostly")
        .hasMessageContaining("expected true or false");
    assertThatThrownBy(() -> NodeSettings.load(dir.resolve("missing.conf")))
        .hasMessageContaining("missing.conf");
  }

  @Test
  void unknownKeysAreRefusedWithTheFileLineAndTheNearestKnownKey() throws Exception {
    Path file =
        Files.writeString(
            dir.resolve("typo.conf"), "softmig {\n  sm-policy = share\n  unmanaged-polcy = kill\n}\n");
    assertThatThrownBy(() -> NodeSettings.load(file))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining(file.toString())
        .hasMessageContaining("line 3")
        .hasMessageContaining("softmig.unmanaged-polcy")
        .hasMessageContaining("did you mean softmig.unmanaged-policy?");

    Path nested = Files.writeString(dir.resolve("n.conf"), "softmig.cluster.obsrver = true\n");
    assertThatThrownBy(() -> NodeSettings.load(nested))
        .hasMessageContaining("softmig.cluster.obsrver")
        .hasMessageContaining("did you mean softmig.cluster.observer?");

    Path top = Files.writeString(dir.resolve("t.conf"), "sofmig.lease = 20ms\n");
    assertThatThrownBy(() -> NodeSettings.load(top))
        .hasMessageContaining("unknown key sofmig")
        .hasMessageContaining("did you mean softmig?");

    Path far = Files.writeString(dir.resolve("f.conf"), "softmig.colour = blue\n");
    assertThatThrownBy(() -> NodeSettings.load(far))
        .hasMessageContaining("unknown key softmig.colour")
        .hasMessageNotContaining("did you mean");
  }

  @Test
  void referenceConfHoldsEveryDefault() {
    NodeSettings s = NodeSettings.defaults();
    assertThat(s.socket()).isEqualTo(NodeSettings.DEFAULT_SOCKET);
    assertThat(s.smPolicy()).isEqualTo("cap");
    assertThat(s.leaseMillis()).isEqualTo(20);
    assertThat(s.configDir()).isEqualTo(Path.of("/var/run/softmig"));
    assertThat(s.stateDir()).isEqualTo(Path.of("/var/lib/softmig"));
    assertThat(s.adminGroup()).isEmpty();
    assertThat(s.hideOtherUsers()).isFalse();
    assertThat(s.metricsPort()).isZero();
    assertThat(s.clusterPort()).isNull();
    assertThat(s.seeds()).isEmpty();
    assertThat(s.simulate()).isNull();
    assertThat(s.nodeName()).isNotBlank();
    assertThat(s.clustered()).isFalse();
  }

  @Test
  void layersAreReferenceThenFileThenFlags() throws Exception {
    Path file =
        Files.writeString(dir.resolve("l.conf"), "softmig { lease = 40ms, sm-policy = share }\n");
    NodeSettings s =
        NodeSettings.fromConfig(NodeConfig.load(file, Map.of("lease", 10L, "node-name", "x")));
    assertThat(s.leaseMillis()).isEqualTo(10);
    assertThat(s.smPolicy()).isEqualTo("share");
    assertThat(s.nodeName()).isEqualTo("x");
    assertThat(s.socket()).isEqualTo(NodeSettings.DEFAULT_SOCKET);
  }

  @Test
  void theStateDirectoryComesFromTheFileOrTheFlagAndMustBeAbsolute() throws Exception {
    Path file = Files.writeString(dir.resolve("s.conf"), "softmig { state-dir = /srv/softmig }\n");
    assertThat(NodeSettings.load(file).stateDir()).isEqualTo(Path.of("/srv/softmig"));
    assertThat(
            NodeSettings.fromConfig(NodeConfig.load(file, Map.of("state-dir", "/tmp/s")))
                .stateDir())
        .isEqualTo(Path.of("/tmp/s"));
    assertThatThrownBy(() -> NodeSettings.of(Map.of("state-dir", "relative/dir")))
        .hasMessageContaining("softmig.state-dir")
        .hasMessageContaining("absolute");
  }

  @Test
  void aBadFlagIsNamedAsTheCommandLine() {
    assertThatThrownBy(() -> NodeSettings.of(Map.of("lease", 0L)))
        .hasMessageStartingWith("command line: softmig.lease = 0");
  }

  @Test
  void nearestKeyNeedsASmallEditDistance() {
    assertThat(NodeConfig.editDistance("kitten", "sitting")).isEqualTo(3);
    assertThat(NodeConfig.nearest("softmig.leas", List.of("softmig.lease", "softmig.socket")))
        .isEqualTo("softmig.lease");
    assertThat(NodeConfig.nearest("softmig.xyz", List.of("softmig.lease"))).isNull();
  }

  @Test
  void readsTheSharingOfEachGpuAndTheMpsKeys() throws Exception {
    Path file =
        Files.writeString(
            dir.resolve("mps.conf"),
            "softmig {\n"
                + "  gpus { \"0\" { sharing = mps }, \"GPU-abc-1\" { sharing = mps },"
                + " \"2\" { sharing = time-slicing } }\n"
                + "  mps { base-dir = /run/x/mps, control = /opt/nv/nvidia-cuda-mps-control,"
                + " time-caps = true, probe-interval = 500ms, command-timeout = 3s,"
                + " server-fault-grace = 20s }\n"
                + "}\n");
    MpsSettings m = NodeSettings.load(file).mps();
    assertThat(m.gpus()).containsExactlyInAnyOrder("0", "GPU-abc-1");
    assertThat(m.mps("GPU-zzz", 0)).isTrue();
    assertThat(m.mps("GPU-abc-1", 7)).isTrue();
    assertThat(m.mps("GPU-zzz", 2)).isFalse();
    assertThat(m.baseDir()).isEqualTo(Path.of("/run/x/mps"));
    assertThat(m.control()).isEqualTo(Path.of("/opt/nv/nvidia-cuda-mps-control"));
    assertThat(m.timeCaps()).isTrue();
    assertThat(m.probeInterval()).isEqualTo(java.time.Duration.ofMillis(500));
    assertThat(m.commandTimeout()).isEqualTo(java.time.Duration.ofSeconds(3));
    assertThat(m.serverFaultGrace()).isEqualTo(java.time.Duration.ofSeconds(20));
  }

  @Test
  void withoutMpsKeysEveryGpuIsTimeSliced() {
    MpsSettings m = NodeSettings.defaults().mps();
    assertThat(m.gpus()).isEmpty();
    assertThat(m.timeCaps()).isFalse();
    assertThat(m.baseDir()).isEqualTo(Path.of("/run/softmig/mps"));
    assertThat(m.control()).isEqualTo(Path.of("nvidia-cuda-mps-control"));
  }

  @Test
  void badMpsValuesNameTheKey() throws Exception {
    Path sharing =
        Files.writeString(dir.resolve("s.conf"), "softmig.gpus.\"0\".sharing = spatial\n");
    assertThatThrownBy(() -> NodeSettings.load(sharing))
        .hasMessageContaining("softmig.gpus")
        .hasMessageContaining("spatial");
    Path gpu = Files.writeString(dir.resolve("g.conf"), "softmig.gpus.\"../x\".sharing = mps\n");
    assertThatThrownBy(() -> NodeSettings.load(gpu)).hasMessageContaining("../x");
    Path unknown =
        Files.writeString(
            dir.resolve("u.conf"), "softmig.gpus.\"1\" { sharing = mps, mode = x }\n");
    assertThatThrownBy(() -> NodeSettings.load(unknown)).hasMessageContaining("mode");
    Path grace =
        Files.writeString(dir.resolve("t.conf"), "softmig.mps.server-fault-grace = never\n");
    assertThatThrownBy(() -> NodeSettings.load(grace))
        .hasMessageContaining("softmig.mps.server-fault-grace");
    Path typo = Files.writeString(dir.resolve("y.conf"), "softmig.mps.time-cap = true\n");
    assertThatThrownBy(() -> NodeSettings.load(typo)).hasMessageContaining("time-cap");
  }
}
