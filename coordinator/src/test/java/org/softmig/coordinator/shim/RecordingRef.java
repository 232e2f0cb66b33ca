package org.softmig.coordinator.shim;

import akka.actor.typed.ActorRef;
import java.util.ArrayList;
import java.util.List;

/** An actor reference that only keeps what it is told, for tests without an actor system. */
final class RecordingRef<T> implements ActorRef<T> {

  private final List<T> told = new ArrayList<>();

  @Override
  public synchronized void tell(T message) {
    told.add(message);
  }

  synchronized List<T> told() {
    return List.copyOf(told);
  }

  @Override
  @SuppressWarnings("unchecked")
  public <U extends T> ActorRef<U> narrow() {
    return (ActorRef<U>) this;
  }

  @Override
  @SuppressWarnings("unchecked")
  public <U> ActorRef<U> unsafeUpcast() {
    return (ActorRef<U>) this;
  }

  @Override
  public akka.actor.ActorPath path() {
    throw new UnsupportedOperationException("a recording reference has no path");
  }

  @Override
  public int compareTo(ActorRef<?> other) {
    return Integer.compare(System.identityHashCode(this), System.identityHashCode(other));
  }
}
