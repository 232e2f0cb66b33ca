package org.softmig.coordinator.shim;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;

/**
 * Any bytes a local process can send, through a connection's whole pipeline ({@link
 * PipelineHarness}): a clear reply or a session whose every request is within the protocol's
 * bounds, never an internal error, never a leak. The first byte chooses the read size.
 */
class ConnectionBytesFuzzTest {

  /** Loads what a connection uses before fuzzing starts, so that its clock counts inputs. */
  @BeforeAll
  static void warmUp() {
    PipelineHarness.warmUp();
  }

  @FuzzTest(maxDuration = "10s")
  void anyBytesGetAClearAnswer(byte[] input) {
    if (input.length == 0) {
      return;
    }
    new PipelineHarness().run(Arrays.copyOfRange(input, 1, input.length), input[0] & 0xff);
  }
}
