package org.softmig.coordinator.shim;

import static org.assertj.core.api.Assertions.assertThat;

import akka.actor.BootstrapSetup;
import akka.actor.setup.ActorSystemSetup;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.DispatcherSelector;
import akka.actor.typed.javadsl.AskPattern;
import akka.actor.typed.javadsl.Behaviors;
import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class ShimLoopTest {

  /** Answers with the name of the thread it runs on. */
  record Where(ActorRef<String> replyTo) {}

  @Test
  void actorsOfTheGpuDispatcherRunOnTheLoopThreadAndTheLoopOutlivesTheDispatcher()
      throws Exception {
    ShimLoop loop = ShimLoop.start();
    ActorSystem<Void> system =
        ActorSystem.create(
            Behaviors.empty(),
            "shim-loop-test",
            ActorSystemSetup.create(
                    BootstrapSetup.create(
                        ConfigFactory.parseString("akka.actor.provider = local")
                            .withFallback(ConfigFactory.load())))
                .withSetup(loop.setup()));
    try {
      ActorRef<Where> actor =
          system.systemActorOf(
              Behaviors.<Where>receiveMessage(
                  w -> {
                    w.replyTo().tell(Thread.currentThread().getName());
                    return Behaviors.same();
                  }),
              "where",
              DispatcherSelector.fromConfig("softmig.gpu-dispatcher"));
      String actorThread =
          AskPattern.<Where, String>ask(actor, Where::new, Duration.ofSeconds(30), system.scheduler())
              .toCompletableFuture()
              .get(30, TimeUnit.SECONDS);
      CompletableFuture<String> loopThread = new CompletableFuture<>();
      loop.group().next().execute(() -> loopThread.complete(Thread.currentThread().getName()));
      assertThat(actorThread).isEqualTo(loopThread.get(30, TimeUnit.SECONDS));
      assertThat(actorThread).startsWith("softmig-shim-loop");
    } finally {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      loop.close();
    }
    assertThat(loop.group().isShutdown()).isTrue();
  }
}
