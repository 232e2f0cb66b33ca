package org.softmig.coordinator.shim;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.CorruptedFrameException;
import java.util.List;

/**
 * Splits a stream into frames: a varint32 length prefix, then that many bytes. A length over the
 * maximum, or a prefix that is not a valid varint32, is a {@link CorruptedFrameException}; after
 * one, everything else the peer sends is discarded (the channel is about to close).
 */
public final class Varint32FrameDecoder extends ByteToMessageDecoder {

  private final int maxFrameBytes;
  private boolean corrupted;

  public Varint32FrameDecoder(int maxFrameBytes) {
    this.maxFrameBytes = maxFrameBytes;
  }

  @Override
  protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
    if (corrupted) {
      in.skipBytes(in.readableBytes());
      return;
    }
    int start = in.readerIndex();
    long length = 0;
    int shift = 0;
    int i = start;
    while (true) {
      if (i >= in.writerIndex()) {
        return; // the prefix is not complete yet
      }
      int b = in.getByte(i++) & 0xff;
      length |= (long) (b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        break;
      }
      shift += 7;
      if (shift >= 35) {
        throw corrupt(in, "length prefix is not a valid varint32");
      }
    }
    if (length > maxFrameBytes) {
      throw corrupt(in, "frame of " + length + " bytes is over the maximum of " + maxFrameBytes);
    }
    int prefix = i - start;
    if (in.readableBytes() < prefix + length) {
      return;
    }
    in.skipBytes(prefix);
    out.add(in.readRetainedSlice((int) length));
  }

  private CorruptedFrameException corrupt(ByteBuf in, String message) {
    corrupted = true;
    in.skipBytes(in.readableBytes());
    return new CorruptedFrameException(message);
  }
}
