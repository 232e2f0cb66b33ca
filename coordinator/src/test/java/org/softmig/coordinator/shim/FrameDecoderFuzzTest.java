package org.softmig.coordinator.shim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.CorruptedFrameException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@link Varint32FrameDecoder} against any byte stream, split into reads of any sizes: it yields
 * exactly the frames of a plain reference reading of the same stream, stops at the first corrupt
 * prefix (and yields nothing after it), and releases every buffer.
 *
 * <p>In {@code mvn verify} the committed inputs ({@code FrameDecoderFuzzTestInputs/}) run as
 * regression tests, and the fuzz profile fuzzes for a few seconds; {@code scripts/fuzz-coordinator.sh}
 * runs it for a number of inputs.
 */
class FrameDecoderFuzzTest {

  /** Small, so that frames over the maximum are common; the real maximum is checked too. */
  private static final int SMALL_MAX = 100;

  /**
   * The first byte chooses the read size (0: everything at once) and the maximum frame size;
   * the rest is the stream.
   */
  @FuzzTest(maxDuration = "10s")
  void yieldsTheFramesOfTheStreamHoweverItArrives(byte[] input) {
    if (input.length == 0) {
      return;
    }
    int chunk = input[0] & 0x7f;
    int max = (input[0] & 0x80) == 0 ? SMALL_MAX : 65_536;
    byte[] stream = Arrays.copyOfRange(input, 1, input.length);
    Reference expected = Reference.read(stream, max);

    EmbeddedChannel ch = new EmbeddedChannel(new Varint32FrameDecoder(max));
    List<ByteBuf> fed = new ArrayList<>();
    List<byte[]> frames = new ArrayList<>();
    boolean corrupted = false;
    int step = chunk == 0 ? Math.max(1, stream.length) : chunk;
    for (int at = 0; at < stream.length; at += step) {
      ByteBuf b = Unpooled.copiedBuffer(stream, at, Math.min(step, stream.length - at));
      fed.add(b);
      if (corrupted) {
        ch.writeInbound(b); // discarded: nothing comes out, nothing is thrown
        assertThat((Object) ch.readInbound()).isNull();
        continue;
      }
      try {
        ch.writeInbound(b);
      } catch (CorruptedFrameException e) {
        corrupted = true;
      }
      drain(ch, frames, max);
    }
    drain(ch, frames, max);

    assertThat(corrupted).as("corrupt prefix").isEqualTo(expected.corrupt());
    assertThat(frames).hasSameSizeAs(expected.frames());
    for (int i = 0; i < frames.size(); i++) {
      assertThat(frames.get(i)).as("frame %d", i).isEqualTo(expected.frames().get(i));
    }
    ch.finishAndReleaseAll();
    for (ByteBuf b : fed) {
      assertThat(b.refCnt()).as("input buffer released").isZero();
    }
  }

  private static void drain(EmbeddedChannel ch, List<byte[]> frames, int max) {
    ByteBuf f;
    while ((f = ch.readInbound()) != null) {
      try {
        assertThat(f.readableBytes()).isLessThanOrEqualTo(max);
        frames.add(ByteBufUtil.getBytes(f));
      } finally {
        f.release();
      }
    }
  }

  /** The edges the fuzzer starts from: nothing, a sixth prefix byte, a length over the maximum. */
  @org.junit.jupiter.api.Test
  void theReferenceAndTheDecoderAgreeOnTheEdges() {
    assertThat(Reference.read(new byte[0], SMALL_MAX).frames()).isEmpty();
    assertThat(Reference.read(new byte[] {(byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80,
        (byte) 0x80, 0}, 65_536).corrupt()).isTrue();
    EmbeddedChannel ch = new EmbeddedChannel(new Varint32FrameDecoder(SMALL_MAX));
    assertThatThrownBy(() -> ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {101})))
        .isInstanceOf(CorruptedFrameException.class);
    ch.finishAndReleaseAll();
  }

  /**
   * The stream read as the protocol defines it: a varint32 length of at most five bytes (base 128,
   * least significant group first), then that many bytes; a length over the maximum or a sixth
   * prefix byte is corrupt. A frame cut off at the end is not a frame yet.
   */
  record Reference(List<byte[]> frames, boolean corrupt) {
    static Reference read(byte[] s, int max) {
      List<byte[]> frames = new ArrayList<>();
      int at = 0;
      while (at < s.length) {
        long length = 0;
        int bytes = 0;
        boolean complete = false;
        while (at + bytes < s.length) {
          int b = s[at + bytes] & 0xff;
          length += (long) (b & 0x7f) << (7 * bytes);
          bytes++;
          if ((b & 0x80) == 0) {
            complete = true;
            break;
          }
          if (bytes == 5) {
            return new Reference(frames, true);
          }
        }
        if (!complete) {
          break;
        }
        if (length > max) {
          return new Reference(frames, true);
        }
        if (at + bytes + length > s.length) {
          break;
        }
        frames.add(Arrays.copyOfRange(s, at + bytes, at + bytes + (int) length));
        at += bytes + (int) length;
      }
      return new Reference(frames, false);
    }
  }
}
