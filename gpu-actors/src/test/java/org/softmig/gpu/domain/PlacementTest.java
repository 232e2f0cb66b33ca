package org.softmig.gpu.domain;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.softmig.gpu.domain.Placement.Decision;
import org.softmig.gpu.domain.Placement.Gpu;
import org.softmig.gpu.domain.Placement.Placed;
import org.softmig.gpu.domain.Placement.Refused;
import org.softmig.gpu.domain.Placement.Slice;

class PlacementTest {

  private static final long GIB = 1L << 30;
  private static final Gpu GPU0 = new Gpu("GPU-0", 0, 48 * GIB);
  private static final Gpu GPU1 = new Gpu("GPU-1", 1, 48 * GIB);

  private final Placement placement = new Placement(List.of(GPU0, GPU1));

  @Test
  void placesFirstSliceOnLowestIndexWhenAllGpusAreEmpty() {
    Decision decision = placement.place(new Slice("1", 12 * GIB, 25));

    assertThat(decision).isEqualTo(new Placed("GPU-0", 0, false));
    assertThat(placement.committedBytes("GPU-0")).isEqualTo(12 * GIB);
    assertThat(placement.committedSmPercent("GPU-0")).isEqualTo(25.0);
    assertThat(placement.committedBytes("GPU-1")).isZero();
  }

  @Test
  void bestFitKeepsAnEmptyGpuFreeForAFullGpuJob() {
    placement.place(new Slice("1", 12 * GIB, 25));
    assertThat(placement.place(new Slice("2", 12 * GIB, 25))).isEqualTo(new Placed("GPU-0", 0, false));

    assertThat(placement.place(new Slice("full", 48 * GIB, 100)))
        .isEqualTo(new Placed("GPU-1", 1, false));
  }

  @Test
  void picksGpuWithLeastMemoryLeftAfterPlacing() {
    Placement mixed =
        new Placement(List.of(new Gpu("big", 0, 80 * GIB), new Gpu("small", 1, 24 * GIB)));

    assertThat(mixed.place(new Slice("1", 20 * GIB, 10))).isEqualTo(new Placed("small", 1, false));
    // 4 GiB left on "small": a 10 GiB slice goes to "big".
    assertThat(mixed.place(new Slice("2", 10 * GIB, 10))).isEqualTo(new Placed("big", 0, false));
  }

  @Test
  void tiesOnMemoryGoToTheGpuWithLeastSmLeftEvenAtAHigherIndex() {
    Placement two = new Placement(List.of(new Gpu("x", 0, 10 * GIB), new Gpu("y", 1, 12 * GIB)));
    two.place(new Slice("big", 9 * GIB, 10)); // x leaves 1 GiB, y would leave 3: x
    two.place(new Slice("onY", 11 * GIB, 50)); // only y fits
    assertThat(two.gpuOf("big")).map(Gpu::uuid).contains("x");
    assertThat(two.gpuOf("onY")).map(Gpu::uuid).contains("y");

    // Both GPUs now have 1 GiB free; x has 90 % SM free, y 50 %.
    assertThat(two.place(new Slice("tie", GIB, 10))).isEqualTo(new Placed("y", 1, false));
  }

  @Test
  void tiesOnMemoryAndSmGoToLowestIndex() {
    Placement three =
        new Placement(
            List.of(new Gpu("c", 2, 10 * GIB), new Gpu("a", 0, 10 * GIB), new Gpu("b", 1, 10 * GIB)));

    assertThat(three.place(new Slice("1", GIB, 10))).isEqualTo(new Placed("a", 0, false));
    assertThat(three.gpus()).extracting(Gpu::index).containsExactly(0, 1, 2);
  }

  @Test
  void sameJobAndSameSliceIsIdempotent() {
    placement.place(new Slice("1", 12 * GIB, 25));

    assertThat(placement.place(new Slice("1", 12 * GIB, 25))).isEqualTo(new Placed("GPU-0", 0, true));
    assertThat(placement.committedBytes("GPU-0")).isEqualTo(12 * GIB);
    assertThat(placement.committedSmPercent("GPU-0")).isEqualTo(25.0);
  }

  @Test
  void sameJobWithDifferentSliceIsRefusedNamingBoth() {
    placement.place(new Slice("7", 12 * GIB, 25));

    Decision decision = placement.place(new Slice("7", 16 * GIB, 25));

    assertThat(decision).isInstanceOf(Refused.class);
    String reason = ((Refused) decision).reason();
    assertThat(reason).contains("7", "GPU-0", "12.0 GiB", "16.0 GiB", "25.0 % SM");
    assertThat(placement.sliceOf("7")).contains(new Slice("7", 12 * GIB, 25));

    Decision otherSm = placement.place(new Slice("7", 12 * GIB, 50));
    assertThat(otherSm).isInstanceOf(Refused.class);
    assertThat(((Refused) otherSm).reason()).contains("25.0 % SM", "50.0 % SM");
  }

  @Test
  void refusesWhenNothingFitsAndSaysWhatIsFree() {
    placement.place(new Slice("a", 40 * GIB, 50));
    placement.place(new Slice("b", 30 * GIB, 80));

    Decision decision = placement.place(new Slice("c", 20 * GIB, 30));

    assertThat(decision).isInstanceOf(Refused.class);
    String reason = ((Refused) decision).reason();
    // GPU-0 holds a (8 GiB, 50 % free); GPU-1 holds b (18 GiB, 20 % free).
    assertThat(reason)
        .contains("job c")
        .contains("largest free memory is 18.0 GiB")
        .contains("on GPU 1")
        .contains("most free SM is 50.0 % on GPU 0");
    assertThat(placement.sliceOf("c")).isEmpty();
  }

  @Test
  void memoryMustFitExactlyAndSmMustStayWithinHundred() {
    assertThat(placement.place(new Slice("whole", 48 * GIB, 100))).isInstanceOf(Placed.class);
    assertThat(placement.place(new Slice("over", 48 * GIB + 1, 1))).isInstanceOf(Refused.class);

    Placement one = new Placement(List.of(GPU0));
    one.place(new Slice("a", GIB, 60));
    assertThat(one.place(new Slice("b", GIB, 40))).isInstanceOf(Placed.class);
    assertThat(one.place(new Slice("c", GIB, 0.5))).isInstanceOf(Refused.class);
  }

  @Test
  void smSumsWithRoundingStillFit() {
    Placement one = new Placement(List.of(GPU0));
    one.place(new Slice("a", GIB, 33.33));
    one.place(new Slice("b", GIB, 33.33));
    one.place(new Slice("c", GIB, 33.33));

    assertThat(one.place(new Slice("d", GIB, 0.01))).isInstanceOf(Placed.class);
  }

  @Test
  void releaseFreesTheRoom() {
    placement.place(new Slice("a", 48 * GIB, 100));
    placement.place(new Slice("b", 48 * GIB, 100));
    assertThat(placement.place(new Slice("c", GIB, 1))).isInstanceOf(Refused.class);

    assertThat(placement.release("a")).isTrue();

    assertThat(placement.release("a")).isFalse();
    assertThat(placement.sliceOf("a")).isEmpty();
    assertThat(placement.gpuOf("a")).isEmpty();
    assertThat(placement.place(new Slice("c", GIB, 1))).isEqualTo(new Placed("GPU-0", 0, false));
  }

  @Test
  void releaseOfUnknownJobIsFalse() {
    assertThat(placement.release("nobody")).isFalse();
  }

  @Test
  void sliceOfAndGpuOfDescribeThePlacement() {
    placement.place(new Slice("a", 48 * GIB, 10));
    placement.place(new Slice("b", GIB, 10));

    assertThat(placement.sliceOf("b")).contains(new Slice("b", GIB, 10));
    assertThat(placement.gpuOf("b")).contains(GPU1);
    assertThat(placement.slicesOn("GPU-1")).containsExactly(new Slice("b", GIB, 10));
    assertThat(placement.sliceOf("none")).isEmpty();
    assertThat(placement.gpuOf("none")).isEmpty();
  }

  @Test
  void validatesSlices() {
    assertThat(placement.place(new Slice("", GIB, 10)))
        .isEqualTo(new Refused("job id must not be empty"));
    assertThat(placement.place(new Slice(null, GIB, 10)))
        .isEqualTo(new Refused("job id must not be empty"));
    assertThat(placement.place(new Slice("  ", GIB, 10))).isInstanceOf(Refused.class);
    assertRefusedWith(new Slice("j", 0, 10), "memory", "must be positive", "0");
    assertRefusedWith(new Slice("j", -5, 10), "memory", "-5");
    assertRefusedWith(new Slice("j", GIB, 0), "SM percent", "0.0");
    assertRefusedWith(new Slice("j", GIB, -1), "SM percent", "-1.0");
    assertRefusedWith(new Slice("j", GIB, 100.5), "SM percent", "100.5");
    assertRefusedWith(new Slice("j", GIB, Double.NaN), "SM percent", "NaN");
    assertThat(placement.sliceOf("j")).isEmpty();
    assertThat(placement.place(new Slice("j", 1, 100))).isInstanceOf(Placed.class);
  }

  @Test
  void refusesOnANodeWithoutGpus() {
    Placement none = new Placement(List.of());

    Decision decision = none.place(new Slice("1", GIB, 10));

    assertThat(decision).isInstanceOf(Refused.class);
    assertThat(((Refused) decision).reason()).contains("no GPU");
  }

  @Test
  void rejectsBadGpuLists() {
    assertThatThrownBy(() -> new Placement(List.of(GPU0, new Gpu("GPU-0", 1, GIB))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("GPU-0");
    assertThatThrownBy(() -> new Placement(List.of(GPU0, new Gpu("other", 0, GIB))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("index 0");
    assertThatThrownBy(() -> new Placement(List.of(new Gpu("x", 0, 0))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("no memory");
    assertThatThrownBy(() -> new Placement(List.of(new Gpu("", 0, GIB))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("no uuid");
    assertThatThrownBy(() -> new Placement(List.of(new Gpu("x", -1, GIB))))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("negative index");
  }

  @Test
  void unknownGpuUuidIsAnError() {
    assertThatThrownBy(() -> placement.committedBytes("GPU-9"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("GPU-9");
    assertThatThrownBy(() -> placement.committedSmPercent("GPU-9"))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void mpsSlicesGoOnlyToMpsGpusAndOthersNeverDo() {
    Gpu mps = new Gpu("GPU-M", 2, 48 * GIB, true);
    Placement p = new Placement(List.of(GPU0, mps));
    assertThat(p.place(new Slice("small", 4 * GIB, 25, true)))
        .isEqualTo(new Placed("GPU-M", 2, false));
    // the best fit would be the MPS GPU (less room left), but a time-slicing slice never goes there
    assertThat(p.place(new Slice("big", 4 * GIB, 25))).isEqualTo(new Placed("GPU-0", 0, false));
    assertThat(p.place(new Slice("small", 4 * GIB, 25, true)))
        .isEqualTo(new Placed("GPU-M", 2, true));
    Decision full = p.place(new Slice("huge", 46 * GIB, 10, true));
    assertThat(full).isInstanceOf(Refused.class);
  }

  @Test
  void mpsSliceOnANodeWithoutMpsGpusIsRefusedSayingSo() {
    Decision d = placement.place(new Slice("m", GIB, 10, true));
    assertThat(d).isInstanceOf(Refused.class);
    assertThat(((Refused) d).reason()).contains("MPS");
  }

  private void assertRefusedWith(Slice slice, String... parts) {
    Decision decision = placement.place(slice);
    assertThat(decision).isInstanceOf(Refused.class);
    assertThat(((Refused) decision).reason()).contains(parts);
  }

  @Test
  void restorePutsASliceBackOnItsOwnGpuAndCountsIt() {
    // best fit would choose GPU-0; restore keeps the GPU the slice had
    assertThat(placement.restore(new Slice("a", 40 * GIB, 50), "GPU-1"))
        .isEqualTo(new Placed("GPU-1", 1, false));
    assertThat(placement.gpuOf("a")).map(Gpu::uuid).contains("GPU-1");
    assertThat(placement.committedBytes("GPU-1")).isEqualTo(40 * GIB);
    assertThat(placement.place(new Slice("a", 40 * GIB, 50))).isEqualTo(new Placed("GPU-1", 1, true));
    assertThat(placement.place(new Slice("b", 40 * GIB, 50))).isEqualTo(new Placed("GPU-0", 0, false));
    assertThat(placement.place(new Slice("c", 40 * GIB, 50))).isInstanceOf(Refused.class);
  }

  @Test
  void restoreRefusesAnUnknownGpuASliceThatNoLongerFitsAndATwiceRestoredJob() {
    assertThat(placement.restore(new Slice("gone", GIB, 10), "GPU-9")).isInstanceOf(Refused.class);
    assertThat(placement.restore(new Slice("a", 40 * GIB, 50), "GPU-0")).isInstanceOf(Placed.class);
    assertThat(placement.restore(new Slice("a", 40 * GIB, 50), "GPU-1")).isInstanceOf(Refused.class);
    assertThat(placement.restore(new Slice("b", 10 * GIB, 10), "GPU-0")).isInstanceOf(Refused.class);
    assertThat(placement.restore(new Slice("mps", GIB, 10, true), "GPU-1"))
        .isInstanceOf(Refused.class);
    assertThat(placement.restore(new Slice("bad", 0, 10), "GPU-1")).isInstanceOf(Refused.class);
    assertThat(placement.gpuOf("gone")).isEmpty();
    assertThat(placement.committedBytes("GPU-0")).isEqualTo(40 * GIB);
    assertThat(placement.committedBytes("GPU-1")).isZero();
  }

  @Test
  void aPlacedJobIsHeldToItsGpuWhereverItsLimitsComeFrom() {
    placement.place(new Slice("p", 12 * GIB, 25));
    for (boolean admin : new boolean[] {true, false}) {
      assertThat(placement.refusal("p", "GPU-0", admin)).isEmpty();
      assertThat(placement.refusal("p", "GPU-1", admin).orElseThrow())
          .contains("placed on GPU 0 (GPU-0)");
      // a GPU that is not the node's is not the placement's to refuse
      assertThat(placement.refusal("p", "GPU-elsewhere", admin)).isEmpty();
    }
  }

  @Test
  void aJobWithoutAdminLimitsGetsNoneOfAGpuThatHoldsSlices() {
    assertThat(placement.refusal("free", "GPU-0", false)).isEmpty(); // no slices yet
    placement.place(new Slice("p", 12 * GIB, 25));
    assertThat(placement.refusal("free", "GPU-0", false).orElseThrow())
        .contains("holds slices")
        .contains("no valid config file, no placement");
    assertThat(placement.refusal("free", "GPU-1", false)).isEmpty();
    assertThat(placement.refusal("config", "GPU-0", true)).isEmpty();
    placement.release("p");
    assertThat(placement.refusal("free", "GPU-0", false)).isEmpty();
  }
}
