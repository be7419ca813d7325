import { encodeModelProto } from "../src/index.ts";
import { writeFileSync } from "node:fs";
import { lstmCellModel, recurrentOpModel, embeddingModel } from "../test/quant/recurrent-fixtures.ts";
writeFileSync("/tmp/wq/cell.onnx", encodeModelProto(lstmCellModel()));
writeFileSync("/tmp/wq/lstm.onnx", encodeModelProto(recurrentOpModel("LSTM", { directions: 2 })));
writeFileSync("/tmp/wq/gru.onnx", encodeModelProto(recurrentOpModel("GRU")));
writeFileSync("/tmp/wq/rnn.onnx", encodeModelProto(recurrentOpModel("RNN")));
writeFileSync("/tmp/wq/emb.onnx", encodeModelProto(embeddingModel()));
