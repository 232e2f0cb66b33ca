package org.softmig.coordinator.metrics;

import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Prometheus endpoint ({@code --metrics-port}): GET /metrics on the given port, in the text
 * exposition format (or OpenMetrics/protobuf when the scraper asks for it). Off unless started.
 */
public final class MetricsServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(MetricsServer.class);

  private final HTTPServer server;

  private MetricsServer(HTTPServer server) {
    this.server = server;
  }

  /**
   * Serves {@code registry} on every interface.
   *
   * @param port 1..65535, or 0 for any free port (see {@link #port()})
   * @throws UncheckedIOException when the port cannot be bound, naming it
   */
  public static MetricsServer start(PrometheusRegistry registry, int port) {
    return start(registry, null, port);
  }

  /** As {@link #start(PrometheusRegistry, int)}, bound to {@code host} (null: every interface). */
  public static MetricsServer start(PrometheusRegistry registry, String host, int port) {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("metrics port must be 0..65535, got " + port);
    }
    HTTPServer.Builder builder = HTTPServer.builder().registry(registry).port(port);
    if (host != null) {
      builder.hostname(host);
    }
    try {
      MetricsServer server = new MetricsServer(builder.buildAndStart());
      log.info("Serving metrics on port [{}]", server.port());
      return server;
    } catch (IOException e) {
      throw new UncheckedIOException("cannot serve metrics on port " + port + ": " + e.getMessage(), e);
    }
  }

  /** The bound port (the chosen one when started with 0). */
  public int port() {
    return server.getPort();
  }

  @Override
  public void close() {
    server.close();
  }
}
