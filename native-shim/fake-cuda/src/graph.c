/*
 * CUDA graphs, reduced to what the timeline and the memory accounting need: a graph counts
 * its kernel nodes, and launching an instantiated graph occupies the device for that many
 * kernel times. Graphs are built with cuGraphAdd*Node / cuGraphAddNode or by capturing a
 * stream (captured kernels are counted, not listed as nodes).
 *
 * Memory allocation nodes (cuGraphAddMemAllocNode, cuGraphAddNode with a MEM_ALLOC node) are
 * listed by cuGraphGetNodes; an instantiated graph takes the sum of their sizes from its
 * devices on its first launch or upload (the real driver backs graph allocations with
 * physical memory then) and gives it back when it is destroyed.
 */
#include "fake.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define GRAPH_EXEC_MAGIC 0x67657821u
#define GRAPH_NODE_MAGIC 0x676e6f64u
#define GRAPH_MEMORY_BASE 0x0400000000000000ULL

struct CUgraphNode_st {
  uint32_t magic;
  CUgraphNodeType type;
  uint64_t bytes;     /* MEM_ALLOC: the allocation's size */
  CUdevice device;    /* MEM_ALLOC: where it resides */
  CUdeviceptr dptr;   /* MEM_ALLOC: its address; MEM_FREE: what it frees */
  struct CUgraphNode_st *next;
};

struct CUgraphExec_st {
  uint32_t magic;
  uint64_t kernel_nodes;
  uint64_t alloc_bytes[FAKE_MAX_GPUS]; /* graph memory per device */
  bool charged;                        /* taken from the devices (first launch or upload) */
};

static atomic_uint_fast64_t next_graph_address;

CUgraph fake_graph_new(void) {
  CUgraph graph = calloc(1, sizeof(*graph));
  if (graph != NULL) {
    graph->magic = FAKE_GRAPH_MAGIC;
  }
  return graph;
}

static bool graph_valid(CUgraph graph) {
  return graph != NULL && graph->magic == FAKE_GRAPH_MAGIC;
}

static CUgraphNode add_typed_node(CUgraphNode *phGraphNode, CUgraph hGraph,
                                  CUgraphNodeType type) {
  CUgraphNode node = calloc(1, sizeof(*node));
  if (node == NULL) {
    return NULL;
  }
  node->magic = GRAPH_NODE_MAGIC;
  node->type = type;
  node->next = hGraph->nodes;
  hGraph->nodes = node;
  hGraph->node_count++;
  if (type == CU_GRAPH_NODE_TYPE_KERNEL) {
    hGraph->kernel_nodes++;
  }
  *phGraphNode = node;
  return node;
}

static CUresult add_node(CUgraphNode *phGraphNode, CUgraph hGraph, CUgraphNodeType type) {
  if (phGraphNode == NULL || !graph_valid(hGraph)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return add_typed_node(phGraphNode, hGraph, type) != NULL ? CUDA_SUCCESS
                                                           : CUDA_ERROR_OUT_OF_MEMORY;
}

static CUresult add_alloc_node(CUgraphNode *phGraphNode, CUgraph hGraph,
                               const CUmemPoolProps *pool, size_t bytesize,
                               CUdeviceptr *dptr_out) {
  if (phGraphNode == NULL || !graph_valid(hGraph) || bytesize == 0 ||
      pool->location.type != CU_MEM_LOCATION_TYPE_DEVICE) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_check_device(pool->location.id);
  if (rc != CUDA_SUCCESS) {
    return rc == CUDA_ERROR_INVALID_DEVICE ? CUDA_ERROR_INVALID_VALUE : rc;
  }
  CUgraphNode node = add_typed_node(phGraphNode, hGraph, CU_GRAPH_NODE_TYPE_MEM_ALLOC);
  if (node == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  node->bytes = bytesize;
  node->device = pool->location.id;
  node->dptr = GRAPH_MEMORY_BASE + atomic_fetch_add(&next_graph_address,
                                                    (bytesize + 0xffff) & ~0xffffULL);
  *dptr_out = node->dptr;
  return CUDA_SUCCESS;
}

static bool node_valid(CUgraphNode node) {
  return node != NULL && node->magic == GRAPH_NODE_MAGIC;
}

CUresult cuGraphAddMemAllocNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                                const CUgraphNode *dependencies, size_t numDependencies,
                                CUDA_MEM_ALLOC_NODE_PARAMS *nodeParams) {
  (void)dependencies, (void)numDependencies;
  if (nodeParams == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return add_alloc_node(phGraphNode, hGraph, &nodeParams->poolProps, nodeParams->bytesize,
                        &nodeParams->dptr);
}

CUresult cuGraphAddMemFreeNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                               const CUgraphNode *dependencies, size_t numDependencies,
                               CUdeviceptr dptr) {
  (void)dependencies, (void)numDependencies;
  CUresult rc = add_node(phGraphNode, hGraph, CU_GRAPH_NODE_TYPE_MEM_FREE);
  if (rc == CUDA_SUCCESS) {
    (*phGraphNode)->dptr = dptr;
  }
  return rc;
}

CUresult cuGraphGetNodes(CUgraph hGraph, CUgraphNode *nodes, size_t *numNodes) {
  if (!graph_valid(hGraph) || numNodes == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (nodes != NULL) {
    size_t i = 0;
    for (CUgraphNode n = hGraph->nodes; n != NULL && i < *numNodes; n = n->next) {
      nodes[i++] = n;
    }
    for (size_t j = i; j < *numNodes; j++) {
      nodes[j] = NULL;
    }
    if (hGraph->node_count < *numNodes) {
      *numNodes = hGraph->node_count;
    }
    return CUDA_SUCCESS;
  }
  *numNodes = hGraph->node_count;
  return CUDA_SUCCESS;
}

CUresult cuGraphNodeGetType(CUgraphNode hNode, CUgraphNodeType *type) {
  if (!node_valid(hNode) || type == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  *type = hNode->type;
  return CUDA_SUCCESS;
}

CUresult cuGraphMemAllocNodeGetParams(CUgraphNode hNode, CUDA_MEM_ALLOC_NODE_PARAMS *params_out) {
  if (!node_valid(hNode) || hNode->type != CU_GRAPH_NODE_TYPE_MEM_ALLOC || params_out == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  memset(params_out, 0, sizeof(*params_out));
  params_out->poolProps.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
  params_out->poolProps.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  params_out->poolProps.location.id = hNode->device;
  params_out->bytesize = hNode->bytes;
  params_out->dptr = hNode->dptr;
  return CUDA_SUCCESS;
}

CUresult cuGraphCreate(CUgraph *phGraph, unsigned int flags) {
  if (phGraph == NULL || flags != 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!fake_initialized()) {
    return CUDA_ERROR_NOT_INITIALIZED;
  }
  CUgraph graph = fake_graph_new();
  if (graph == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *phGraph = graph;
  return CUDA_SUCCESS;
}

CUresult cuGraphDestroy(CUgraph hGraph) {
  if (!graph_valid(hGraph)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  hGraph->magic = 0;
  for (CUgraphNode n = hGraph->nodes; n != NULL;) {
    CUgraphNode next = n->next;
    n->magic = 0;
    free(n);
    n = next;
  }
  free(hGraph);
  return CUDA_SUCCESS;
}

CUresult cuGraphAddKernelNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph,
                                 const CUgraphNode *dependencies, size_t numDependencies,
                                 const CUDA_KERNEL_NODE_PARAMS *nodeParams) {
  (void)dependencies, (void)numDependencies;
  if (nodeParams == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return add_node(phGraphNode, hGraph, CU_GRAPH_NODE_TYPE_KERNEL);
}

CUresult cuGraphAddKernelNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                              const CUgraphNode *dependencies, size_t numDependencies,
                              const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams) {
  (void)dependencies, (void)numDependencies;
  if (nodeParams == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return add_node(phGraphNode, hGraph, CU_GRAPH_NODE_TYPE_KERNEL);
}

CUresult cuGraphAddEmptyNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                             const CUgraphNode *dependencies, size_t numDependencies) {
  (void)dependencies, (void)numDependencies;
  return add_node(phGraphNode, hGraph, CU_GRAPH_NODE_TYPE_EMPTY);
}

static CUresult add_generic_node(CUgraphNode *phGraphNode, CUgraph hGraph,
                                 CUgraphNodeParams *nodeParams) {
  if (nodeParams == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (nodeParams->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC) {
    return add_alloc_node(phGraphNode, hGraph, &nodeParams->alloc.poolProps,
                          nodeParams->alloc.bytesize, &nodeParams->alloc.dptr);
  }
  CUresult rc = add_node(phGraphNode, hGraph, nodeParams->type);
  if (rc == CUDA_SUCCESS && nodeParams->type == CU_GRAPH_NODE_TYPE_MEM_FREE) {
    (*phGraphNode)->dptr = nodeParams->free.dptr;
  }
  return rc;
}

CUresult cuGraphAddNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph,
                           const CUgraphNode *dependencies, const CUgraphEdgeData *dependencyData,
                           size_t numDependencies, CUgraphNodeParams *nodeParams) {
  (void)dependencies, (void)dependencyData, (void)numDependencies;
  return add_generic_node(phGraphNode, hGraph, nodeParams);
}

CUresult cuGraphAddNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                        size_t numDependencies, CUgraphNodeParams *nodeParams) {
  (void)dependencies, (void)numDependencies;
  return add_generic_node(phGraphNode, hGraph, nodeParams);
}

static CUresult instantiate(CUgraphExec *phGraphExec, CUgraph hGraph) {
  if (phGraphExec == NULL || !graph_valid(hGraph)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUgraphExec exec = calloc(1, sizeof(*exec));
  if (exec == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  exec->magic = GRAPH_EXEC_MAGIC;
  exec->kernel_nodes = hGraph->kernel_nodes;
  for (CUgraphNode n = hGraph->nodes; n != NULL; n = n->next) {
    if (n->type == CU_GRAPH_NODE_TYPE_MEM_ALLOC) {
      exec->alloc_bytes[n->device] += n->bytes;
    }
  }
  *phGraphExec = exec;
  return CUDA_SUCCESS;
}

CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph,
                                     unsigned long long flags) {
  (void)flags;
  return instantiate(phGraphExec, hGraph);
}

CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph,
                               CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize) {
  (void)phErrorNode, (void)logBuffer, (void)bufferSize;
  return instantiate(phGraphExec, hGraph);
}

CUresult cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                            char *logBuffer, size_t bufferSize) {
  (void)phErrorNode, (void)logBuffer, (void)bufferSize;
  return instantiate(phGraphExec, hGraph);
}

static CUresult instantiate_with_params(CUgraphExec *phGraphExec, CUgraph hGraph,
                                        CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams) {
  CUresult rc = instantiate(phGraphExec, hGraph);
  if (instantiateParams != NULL) {
    instantiateParams->result_out =
        rc == CUDA_SUCCESS ? CUDA_GRAPH_INSTANTIATE_SUCCESS : CUDA_GRAPH_INSTANTIATE_ERROR;
  }
  return rc;
}

CUresult cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
                                      CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams) {
  return instantiate_with_params(phGraphExec, hGraph, instantiateParams);
}

CUresult cuGraphInstantiateWithParams_ptsz(CUgraphExec *phGraphExec, CUgraph hGraph,
                                           CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams) {
  return instantiate_with_params(phGraphExec, hGraph, instantiateParams);
}

CUresult cuGraphExecDestroy(CUgraphExec hGraphExec) {
  if (hGraphExec == NULL || hGraphExec->magic != GRAPH_EXEC_MAGIC) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  hGraphExec->magic = 0;
  if (hGraphExec->charged) {
    for (int d = 0; d < FAKE_MAX_GPUS; d++) {
      if (hGraphExec->alloc_bytes[d] > 0) {
        fake_uncharge(d, hGraphExec->alloc_bytes[d]);
      }
    }
  }
  free(hGraphExec);
  return CUDA_SUCCESS;
}

/* Takes the graph's memory from its devices, once (first launch or upload). */
static CUresult charge_graph_memory(CUgraphExec exec) {
  if (exec->charged) {
    return CUDA_SUCCESS;
  }
  for (int d = 0; d < FAKE_MAX_GPUS; d++) {
    if (exec->alloc_bytes[d] > 0 && fake_charge(d, exec->alloc_bytes[d]) != CUDA_SUCCESS) {
      while (--d >= 0) {
        if (exec->alloc_bytes[d] > 0) {
          fake_uncharge(d, exec->alloc_bytes[d]);
        }
      }
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
  }
  exec->charged = true;
  return CUDA_SUCCESS;
}

static CUresult graph_launch(CUgraphExec hGraphExec, CUstream hStream) {
  if (hGraphExec == NULL || hGraphExec->magic != GRAPH_EXEC_MAGIC) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = charge_graph_memory(hGraphExec);
  return rc == CUDA_SUCCESS ? fake_launch(hStream, hGraphExec->kernel_nodes) : rc;
}

CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream) {
  return graph_launch(hGraphExec, hStream);
}

CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream) {
  return graph_launch(hGraphExec, hStream);
}

static CUresult graph_upload(CUgraphExec hGraphExec, CUstream hStream) {
  CUdevice dev;
  if (hGraphExec == NULL || hGraphExec->magic != GRAPH_EXEC_MAGIC) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_stream_device(hStream, &dev);
  return rc == CUDA_SUCCESS ? charge_graph_memory(hGraphExec) : rc;
}

CUresult cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream) {
  return graph_upload(hGraphExec, hStream);
}

CUresult cuGraphUpload_ptsz(CUgraphExec hGraphExec, CUstream hStream) {
  return graph_upload(hGraphExec, hStream);
}

/* Stream capture */

CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode) {
  (void)mode;
  return fake_stream_begin_capture(hStream);
}

CUresult cuStreamBeginCapture_v2_ptsz(CUstream hStream, CUstreamCaptureMode mode) {
  (void)mode;
  return fake_stream_begin_capture(hStream);
}

CUresult cuStreamBeginCapture(CUstream hStream) {
  return fake_stream_begin_capture(hStream);
}

CUresult cuStreamBeginCapture_ptsz(CUstream hStream) {
  return fake_stream_begin_capture(hStream);
}

CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph) {
  return fake_stream_end_capture(hStream, phGraph);
}

CUresult cuStreamEndCapture_ptsz(CUstream hStream, CUgraph *phGraph) {
  return fake_stream_end_capture(hStream, phGraph);
}

static CUresult is_capturing(CUstream hStream, CUstreamCaptureStatus *captureStatus) {
  uint64_t id;
  if (captureStatus == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return fake_stream_capture_status(hStream, captureStatus, &id);
}

CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus) {
  return is_capturing(hStream, captureStatus);
}

CUresult cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus) {
  return is_capturing(hStream, captureStatus);
}

static CUresult capture_info(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                             cuuint64_t *id_out, CUgraph *graph_out,
                             const CUgraphNode **dependencies_out,
                             const CUgraphEdgeData **edgeData_out,
                             size_t *numDependencies_out) {
  CUstreamCaptureStatus status;
  uint64_t id;
  if (captureStatus_out == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_stream_capture_status(hStream, &status, &id);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  *captureStatus_out = status;
  if (id_out != NULL) {
    *id_out = id;
  }
  if (graph_out != NULL) {
    *graph_out = NULL;
  }
  if (dependencies_out != NULL) {
    *dependencies_out = NULL;
  }
  if (edgeData_out != NULL) {
    *edgeData_out = NULL;
  }
  if (numDependencies_out != NULL) {
    *numDependencies_out = 0;
  }
  return CUDA_SUCCESS;
}

CUresult cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                cuuint64_t *id_out) {
  return capture_info(hStream, captureStatus_out, id_out, NULL, NULL, NULL, NULL);
}

CUresult cuStreamGetCaptureInfo_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                     cuuint64_t *id_out) {
  return capture_info(hStream, captureStatus_out, id_out, NULL, NULL, NULL, NULL);
}

CUresult cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                   cuuint64_t *id_out, CUgraph *graph_out,
                                   const CUgraphNode **dependencies_out,
                                   size_t *numDependencies_out) {
  return capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, NULL,
                      numDependencies_out);
}

CUresult cuStreamGetCaptureInfo_v2_ptsz(CUstream hStream,
                                        CUstreamCaptureStatus *captureStatus_out,
                                        cuuint64_t *id_out, CUgraph *graph_out,
                                        const CUgraphNode **dependencies_out,
                                        size_t *numDependencies_out) {
  return capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, NULL,
                      numDependencies_out);
}

CUresult cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                   cuuint64_t *id_out, CUgraph *graph_out,
                                   const CUgraphNode **dependencies_out,
                                   const CUgraphEdgeData **edgeData_out,
                                   size_t *numDependencies_out) {
  return capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out,
                      edgeData_out, numDependencies_out);
}

CUresult cuStreamGetCaptureInfo_v3_ptsz(CUstream hStream,
                                        CUstreamCaptureStatus *captureStatus_out,
                                        cuuint64_t *id_out, CUgraph *graph_out,
                                        const CUgraphNode **dependencies_out,
                                        const CUgraphEdgeData **edgeData_out,
                                        size_t *numDependencies_out) {
  return capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out,
                      edgeData_out, numDependencies_out);
}
