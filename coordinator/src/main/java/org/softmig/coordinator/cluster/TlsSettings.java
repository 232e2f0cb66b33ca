package org.softmig.coordinator.cluster;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Mutual TLS between coordinators (Artery {@code tls-tcp}). The key store holds this node's key
 * and its certificate chain (signed by the site's cluster CA); the trust store holds the CA
 * certificate. A peer whose certificate does not chain to that CA cannot connect, so it cannot
 * join. See docs/CLUSTER.md for how a site creates these files.
 */
public record TlsSettings(
    Path keyStore,
    String keyStorePassword,
    String keyPassword,
    Path trustStore,
    String trustStorePassword,
    String protocol,
    List<String> cipherSuites) {

  public static final String DEFAULT_PROTOCOL = "TLSv1.2";
  public static final List<String> DEFAULT_CIPHER_SUITES =
      List.of(
          "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
          "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
          "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
          "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");

  public TlsSettings {
    Objects.requireNonNull(keyStore, "keyStore");
    Objects.requireNonNull(trustStore, "trustStore");
    Objects.requireNonNull(keyStorePassword, "keyStorePassword");
    Objects.requireNonNull(keyPassword, "keyPassword");
    Objects.requireNonNull(trustStorePassword, "trustStorePassword");
    Objects.requireNonNull(protocol, "protocol");
    cipherSuites = List.copyOf(cipherSuites);
    if (cipherSuites.isEmpty()) {
      throw new IllegalArgumentException("TLS needs at least one cipher suite");
    }
  }

  /** The usual case: one password for the key store and its key, the default protocol. */
  public static TlsSettings of(
      Path keyStore, String keyStorePassword, Path trustStore, String trustStorePassword) {
    return new TlsSettings(
        keyStore,
        keyStorePassword,
        keyStorePassword,
        trustStore,
        trustStorePassword,
        DEFAULT_PROTOCOL,
        DEFAULT_CIPHER_SUITES);
  }

  @Override
  public String toString() {
    return "TlsSettings[keyStore="
        + keyStore
        + ", trustStore="
        + trustStore
        + ", protocol="
        + protocol
        + ", passwords hidden]";
  }
}
