package org.softmig.coordinator.cluster;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A cluster CA and node key stores made with the JDK's keytool, the same steps docs/CLUSTER.md
 * gives a site (EC P-256 keys, PKCS12 stores).
 */
final class ClusterTestCertificates {

  static final String PASSWORD = "changeit-test";

  private final Path dir;

  ClusterTestCertificates(Path dir) {
    this.dir = dir;
  }

  /** Creates {@code <ca>.p12} (the CA's key) and {@code <ca>.pem} (its certificate). */
  void createCa(String ca) throws Exception {
    keytool("-genkeypair", "-alias", ca, "-keyalg", "EC", "-groupname", "secp256r1",
        "-dname", "CN=" + ca, "-ext", "bc:c", "-validity", "2",
        "-keystore", p12(ca), "-storetype", "PKCS12", "-storepass", PASSWORD);
    keytool("-exportcert", "-rfc", "-alias", ca, "-file", pem(ca),
        "-keystore", p12(ca), "-storepass", PASSWORD);
  }

  /** A trust store {@code <name>.p12} holding the CA certificate. */
  Path trustStore(String name, String ca) throws Exception {
    keytool("-importcert", "-noprompt", "-alias", ca, "-file", pem(ca),
        "-keystore", p12(name), "-storetype", "PKCS12", "-storepass", PASSWORD);
    return dir.resolve(name + ".p12");
  }

  /** A key store {@code <node>.p12} with the node's key and its certificate signed by the CA. */
  Path nodeKeyStore(String node, String ca) throws Exception {
    keytool("-genkeypair", "-alias", node, "-keyalg", "EC", "-groupname", "secp256r1",
        "-dname", "CN=" + node, "-validity", "2",
        "-keystore", p12(node), "-storetype", "PKCS12", "-storepass", PASSWORD);
    keytool("-certreq", "-alias", node, "-file", dir.resolve(node + ".csr").toString(),
        "-keystore", p12(node), "-storepass", PASSWORD);
    keytool("-gencert", "-rfc", "-alias", ca, "-validity", "2",
        "-ext", "ku:c=digitalSignature,keyAgreement", "-ext", "eku=serverAuth,clientAuth",
        "-ext", "san=ip:127.0.0.1,dns:localhost",
        "-infile", dir.resolve(node + ".csr").toString(), "-outfile", pem(node),
        "-keystore", p12(ca), "-storepass", PASSWORD);
    keytool("-importcert", "-noprompt", "-alias", ca, "-file", pem(ca),
        "-keystore", p12(node), "-storepass", PASSWORD);
    keytool("-importcert", "-alias", node, "-file", pem(node),
        "-keystore", p12(node), "-storepass", PASSWORD);
    return dir.resolve(node + ".p12");
  }

  private String p12(String name) {
    return dir.resolve(name + ".p12").toString();
  }

  private String pem(String name) {
    return dir.resolve(name + ".pem").toString();
  }

  private static void keytool(String... args) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
    command.add("-J-XX:TieredStopAtLevel=1");
    command.addAll(List.of(args));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IllegalStateException("keytool " + String.join(" ", args) + " failed: " + output);
    }
  }
}
