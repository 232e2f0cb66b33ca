package org.softmig.coordinator.shim;

import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.protobuf.ProtobufDecoder;
import io.netty.handler.codec.protobuf.ProtobufEncoder;
import io.netty.handler.codec.protobuf.ProtobufVarint32LengthFieldPrepender;
import org.softmig.proto.v1.ClientFrame;
import org.softmig.proto.v1.ProtocolConstants;

/** The pipeline of every connection: framing, protobuf, one handler. */
public final class ShimChannelInitializer extends ChannelInitializer<Channel> {

  private final ShimServices services;

  public ShimChannelInitializer(ShimServices services) {
    this.services = services;
  }

  @Override
  protected void initChannel(Channel ch) {
    ChannelPipeline p = ch.pipeline();
    p.addLast("frames", new Varint32FrameDecoder(ProtocolConstants.MAX_FRAME_BYTES_VALUE));
    p.addLast("decoder", new ProtobufDecoder(ClientFrame.getDefaultInstance()));
    p.addLast("prepender", new ProtobufVarint32LengthFieldPrepender());
    p.addLast("encoder", new ProtobufEncoder());
    p.addLast("handler", new ShimHandler(services));
  }
}
