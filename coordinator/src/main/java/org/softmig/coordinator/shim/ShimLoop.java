package org.softmig.coordinator.shim;

import akka.actor.setup.Setup;
import akka.dispatch.DispatcherPrerequisites;
import akka.dispatch.ExecutorServiceConfigurator;
import akka.dispatch.ExecutorServiceFactory;
import com.typesafe.config.Config;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;

/**
 * The one event-loop thread of the shim socket, shared with the GPU actors: the connections'
 * reads, the GPU actors' turns and the replies' writes all run on it, one after another, so a
 * memory request, a lease release and the grant it causes cross no thread on the coordinator (no
 * wake-up of another thread, no task handed over). The GPU actors get it through the dispatcher
 * {@code softmig.gpu-dispatcher} ({@link Executor}); the actor system learns of it through its
 * setup ({@link LoopSetup}).
 *
 * <p>Nothing on it blocks: GPU actors are plain bookkeeping, and every blocking step of a
 * connection (resolving a process's job) already runs on the blocking dispatcher.
 */
public final class ShimLoop implements AutoCloseable {

  private final EventLoopGroup group;
  private final EventLoop loop;
  private final ExecutorService executor;
  // where actor work goes once the loop has stopped (coordinator shutdown)
  private final ExecutorService afterStop =
      Executors.newSingleThreadExecutor(new DefaultThreadFactory("softmig-loop-after-stop", true));

  private ShimLoop() {
    if (!Epoll.isAvailable()) {
      throw new IllegalStateException(
          "native epoll transport is not available (Linux x86_64 or aarch64 needed): "
              + Epoll.unavailabilityCause());
    }
    group =
        new MultiThreadIoEventLoopGroup(
            1, new DefaultThreadFactory("softmig-shim-loop"), EpollIoHandler.newFactory());
    loop = group.next();
    executor = new LoopExecutor();
  }

  public static ShimLoop start() {
    return new ShimLoop();
  }

  /** The group of the socket server: this one loop. */
  public EventLoopGroup group() {
    return group;
  }

  /** For the actor system's setup. */
  public LoopSetup setup() {
    return new LoopSetup(this);
  }

  @Override
  public void close() {
    group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly();
    afterStop.shutdown();
  }

  /** Runs on the loop; once it has stopped, on a thread of its own. Never shut down by Akka. */
  private final class LoopExecutor extends AbstractExecutorService {
    @Override
    public void execute(Runnable task) {
      if (!loop.isShuttingDown()) {
        try {
          loop.execute(task);
          return;
        } catch (RejectedExecutionException e) {
          // stopping: fall through
        }
      }
      afterStop.execute(task);
    }

    @Override
    public void shutdown() {
      // the loop belongs to the coordinator; Akka shuts an idle dispatcher's executor down
    }

    @Override
    public List<Runnable> shutdownNow() {
      return List.of();
    }

    @Override
    public boolean isShutdown() {
      return false;
    }

    @Override
    public boolean isTerminated() {
      return false;
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) {
      return false;
    }
  }

  /** Carries the loop into the actor system, for {@link Executor}. */
  public static final class LoopSetup extends Setup {
    private final ShimLoop loop;

    LoopSetup(ShimLoop loop) {
      this.loop = loop;
    }
  }

  /**
   * The executor of a dispatcher that runs its actors on the shim loop ({@code executor =
   * "org.softmig.coordinator.shim.ShimLoop$Executor"}). Needs the actor system to be set up with
   * {@link LoopSetup}.
   */
  public static final class Executor extends ExecutorServiceConfigurator {
    private final ShimLoop loop;

    public Executor(Config config, DispatcherPrerequisites prerequisites) {
      super(config, prerequisites);
      loop =
          prerequisites
              .settings()
              .setup()
              .get(LoopSetup.class)
              .orElseThrow(
                  () ->
                      new IllegalStateException(
                          "a dispatcher on the shim loop needs the actor system's LoopSetup"))
              .loop;
    }

    @Override
    public ExecutorServiceFactory createExecutorServiceFactory(
        String id, ThreadFactory threadFactory) {
      return () -> loop.executor;
    }
  }
}
