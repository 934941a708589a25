/* beam_attn.h: what the returned hypothesis of an encoder-decoder beam search attended to
 * (module prefix beam_attn_). Internal to models/.
 *
 * The kernels see one decoder row per live beam per step; beams fork and die as the search
 * goes, and which hypothesis is returned is known only at the end. Two records follow the
 * beams, so that the answer's own attention can be reported rather than the search's:
 *
 *   statistics (tf_gen_params.attn_per_beam): each cache slot holds the decoder-side
 *   statistics of the beam in it (decoder self- and cross-attention tf_attn_stats, and
 *   the cross-attention's coverage and repeated focus), copied when a beam forks exactly
 *   as its K/V rows are; a hypothesis takes a copy of its beam's set when it ends. Memory:
 *   2 x num_beams sets of decoder layers x heads x (n_src floats + ~100 bytes), whatever
 *   the length.
 *
 *   rows (tf_gen_params.attn_full): a store made for num_beams (attn_capture_encdec_new)
 *   keeps every step's row of every live beam, row (step, beam) at step * num_beams + beam,
 *   and each step records its rows' parents. At the end the returned hypothesis's rows are
 *   found by following the parents back from its last row and are moved, in place, to
 *   rows 0.. of the store, where a one-beam sequence has them (memory: num_beams times a
 *   one-beam sequence's decoder and cross stores).
 *
 * The encoder is the same for every beam: its statistics and weights stay the sequence's.
 *
 *     beam_attn_new(n_dec_layer, n_head, n_src, num_beams, n_steps, search, store, &ba, &err);
 *     each step, before the beams are reordered:  beam_attn_reorder(ba, beam, step, slot);
 *       when a fork copies slot `from` into `to`:  beam_attn_copy_slot(ba, from, to);
 *     each decoder row, after its kernel call:     beam_attn_row(ba, cross, l, h, ...);
 *     when the search has ended:                   beam_attn_finish(ba, beam, slot, n_generated);
 *     beam_attn_view(ba) -> the returned hypothesis's statistics;  beam_attn_free(ba);
 *
 * Thread-safety: beam_attn_row may run concurrently for different (layer, head) pairs
 * (each thread writes its own pair of every slot and beam); everything else is called by
 * the one thread that steps the sequence, between attention calls.
 */
#ifndef TF_MODELS_BEAM_ATTN_H
#define TF_MODELS_BEAM_ATTN_H

#include "models/beam.h"
#include "models/model_impl.h"

typedef struct tf_beam_attn tf_beam_attn;

/* search: the sequence's statistics over every beam (its encoder part is shared with the
 * hypothesis's view), or NULL to keep no per-beam statistics; store: a store made for
 * n_beams whose decoder and cross rows are followed, or NULL to keep none (borrowed; it
 * must outlive ba). n_steps: decoder positions a beam may feed. TF_ENOMEM. */
int beam_attn_new(int n_layer, int n_head, int n_src, int n_beams, int n_steps, const tf_attn_encdec *search,
                  tf_attn_encdec_store *store, tf_beam_attn **out, tf_err *err);
void beam_attn_free(tf_beam_attn *ba); /* NULL is a no-op */

/* Before the beams of `step` (the decoder position about to be fed) are put into their
 * slots: the hypotheses the last beam step ended take their beams' statistics (slot[row]
 * still holds row's), and b->parent is recorded as the parents of step's rows. */
void beam_attn_reorder(tf_beam_attn *ba, tf_beam *b, int step, const int *slot);
/* A fork copied slot `from`'s cache into slot `to`: the statistics follow. */
void beam_attn_copy_slot(tf_beam_attn *ba, int from, int to);

/* One softmax row p (n_keys weights) of head `head` in decoder layer `layer`, self-attention
 * or cross-attention, computed for live row `beam` (in cache slot `slot`) at `step`. */
void beam_attn_row(tf_beam_attn *ba, int cross, int layer, int head, int slot, int beam, int step,
                   const float *p, int n_keys);

/* The search is over: the best hypothesis's statistics become the view, and its rows are
 * moved to rows [0, n) of the store, n = its fed positions but at most n_generated (the
 * store's view.n_rows). */
void beam_attn_finish(tf_beam_attn *ba, tf_beam *b, const int *slot, int n_generated);
/* The returned hypothesis's statistics once finished (the encoder's are the search's);
 * NULL before, or when ba keeps none. */
const tf_attn_encdec *beam_attn_view(const tf_beam_attn *ba);

#endif
