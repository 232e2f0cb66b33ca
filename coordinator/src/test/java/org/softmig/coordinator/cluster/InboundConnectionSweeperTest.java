package org.softmig.coordinator.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class InboundConnectionSweeperTest {

  private static final ClusterSettings.Limits LIMITS =
      new ClusterSettings.Limits(
          64, Duration.ofSeconds(10), Duration.ofMinutes(2), Duration.ofHours(1), 8);

  @Test
  void findsTheConnectionsAcceptedOnThePortNotItsListenerNorOutboundOnes() {
    List<String> table =
        List.of(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
                + "  timeout inode",
            // listening on 25520 (0x63B0)
            "   0: 0100007F:63B0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0"
                + "        0 1001 1 0000000000000000 100 0 0 10 0",
            // accepted on 25520
            "   1: 0100007F:63B0 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000"
                + "        0 1002 1 0000000000000000 20 4 30 10 -1",
            // our outbound connection to a peer's 25520
            "   2: 0100007F:D432 0100007F:63B0 01 00000000:00000000 00:00000000 00000000     0"
                + "        0 1003 1 0000000000000000 20 4 30 10 -1",
            // a peer that closed its side (CLOSE_WAIT)
            "   3: 0100007F:63B0 0100007F:D433 08 00000000:00000000 00:00000000 00000000  1000"
                + "        0 1004 1 0000000000000000 20 4 30 10 -1",
            "garbage");

    assertThat(InboundConnectionSweeper.acceptedOn(25520, table)).containsExactlyInAnyOrder(1002L, 1004L);
  }

  @Test
  void silentSinceAcceptedClosesEarlyIdleClosesLater() {
    var silent = new InboundConnectionSweeper.TcpInfo(10_000, Optional.of(0L));
    var spoke = new InboundConnectionSweeper.TcpInfo(10_000, Optional.of(517L));
    var idle = new InboundConnectionSweeper.TcpInfo(120_000, Optional.of(5_000_000L));
    var oldKernel = new InboundConnectionSweeper.TcpInfo(10_000, Optional.empty());

    assertThat(InboundConnectionSweeper.silentTooLong(silent, LIMITS)).isTrue();
    assertThat(InboundConnectionSweeper.silentTooLong(spoke, LIMITS)).isFalse();
    assertThat(InboundConnectionSweeper.silentTooLong(idle, LIMITS)).isTrue();
    assertThat(InboundConnectionSweeper.silentTooLong(oldKernel, LIMITS)).isFalse();
  }
}
