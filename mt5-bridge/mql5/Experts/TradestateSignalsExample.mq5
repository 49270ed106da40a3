//+------------------------------------------------------------------+
//|                                    TradestateSignalsExample.mq5  |
//| How a strategy EA sends its signals: a signals-only lane         |
//| (report_state=false), so it sends no heartbeat and no positions  |
//| next to the reporter (EA or service) of the same instance id.    |
//| Its lane defaults to its program name; two charts running this   |
//| EA with one instance id need different Lane inputs.              |
//| The "strategy" below is a placeholder: a signal on each new bar. |
//+------------------------------------------------------------------+
#property copyright "Tradestate"
#property link      "https://github.com/tradestate"
#property version   "1.10"
#property description "Example: a strategy EA sending signals to a Tradestate gateway (signals-only lane)."

#include <Tradestate\Tradestate.mqh>

input string            InpGatewayUrl = "http://127.0.0.1:8080"; // Gateway base URL (HTTP transport)
input string            InpToken      = "";                       // Token for this instance
input string            InpInstanceId = "";                       // Instance id (empty: mt5-<login>)
input string            InpLane       = "";                       // Lane (empty: the program's name)
input ENUM_TS_TRANSPORT InpTransport  = TS_TRANSPORT_RESP;        // Transport (RESP never waits in OnTimer)
input string            InpRespHost   = "127.0.0.1";              // RESP host
input int               InpRespPort   = 6390;                     // RESP port
input string            InpStrategy   = "example";                // Strategy name in the signals

CTradestate Tradestate;
datetime    LastBar=0;

int OnInit()
  {
   TsConfig config;
   TsConfigDefaults(config);
   config.url=InpGatewayUrl;
   config.token=InpToken;
   config.instance_id=InpInstanceId;
   config.lane=InpLane;
   config.transport=InpTransport;
   config.resp_host=InpRespHost;
   config.resp_port=InpRespPort;
   config.report_state=false;       // signals only: the reporter sends the account and positions
   config.timeout_ms=2000;          // a strategy's thread should not wait long on the network
   config.tick_budget_ms=50;
   config.ea_version="TradestateSignalsExample 1.10";
   if(!Tradestate.Init(config))
      return(INIT_PARAMETERS_INCORRECT);
   return(INIT_SUCCEEDED);
  }

void OnDeinit(const int reason)
  {
   Tradestate.Deinit();
  }

//--- Signals are queued here (a file append: fast); they are sent in OnTimer.
void OnTick()
  {
   datetime bar=iTime(_Symbol,_Period,0);
   if(bar==LastBar)
      return;
   LastBar=bar;
   double close=iClose(_Symbol,_Period,1);
   double open=iOpen(_Symbol,_Period,1);
   string action=(close>=open) ? "buy" : "sell";
   if(Tradestate.Signal(InpStrategy,_Symbol,action,0.10,SymbolInfoDouble(_Symbol,SYMBOL_BID))<0)
      Print("signal not queued: ",Tradestate.LastError());
  }

void OnTimer()
  {
   Tradestate.OnTimer();
  }
//+------------------------------------------------------------------+
